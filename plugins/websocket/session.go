package main

import (
	"context"
	"fmt"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
)

// newSessionTimeout bounds the wait for a session id (only long when the
// host is away and the plugin has used up its ids). A client's wait in the
// connection queue comes on top; connection_queue_wait bounds that.
const newSessionTimeout = 10 * time.Second

// Messages a client is shown about its connection.
const (
	msgResumed  = "Reconnected: your session was resumed."
	msgReplaced = "This session was opened in another window."
	msgNotReady = "The server is not ready; please try again in a moment."
	// msgInUseElsewhere tells a connection whose token names a session
	// open from another address, alive, that it has a session of its own.
	msgInUseElsewhere = "That session is open in another window, from another address, so this window has a new session."
)

// open gives a new connection its session: the one its resume token
// names, if that one still waits for a resume, or is attached from the
// same client network or to a dead connection (see client.attach), and
// the token is still good for it; or a new one. ctx ends when the client
// goes away while it waits (see openWatched).
func (p *Plugin) open(ctx context.Context, s *socket) (c *client, resumed bool, err error) {
	r, err := p.resume(ctx, s, s.key)
	if err != nil || r.c != nil {
		return r.c, r.c != nil, err
	}
	key := r.key
	c = newClient(p)
	// The socket is the new client's while it waits its turn in its
	// address's connection queue, so that the SDK's "You are queued to
	// connect in N seconds" reaches it then, not once it is let in.
	// Nothing else is sent to a session before it is made.
	c.mu.Lock()
	c.sock = s
	c.mu.Unlock()
	// Not under openMu: NewSession may keep the client waiting its turn in
	// its address's connection queue, and nobody else may wait behind it.
	// That wait is bounded by connection_queue_wait, on top of the wait
	// for an id, and must not be cut short by the latter's bound.
	nctx, cancel := context.WithTimeout(ctx, p.idWait+p.portal.Host().ConnectionQueueWait)
	sess, err := p.portal.NewSession(nctx, c, ProtocolKey, s.addr)
	cancel()
	// The socket is taken back until the session is ready for it, once
	// what the client was shown while it waited has been written: should
	// the connection resume another session below, nothing of this one
	// may follow that one's output.
	c.mu.Lock()
	c.sock = nil
	c.mu.Unlock()
	c.writers.Wait()
	if err != nil {
		return nil, false, fmt.Errorf("websocket: new session: %w", err)
	}
	// Another connection with this token may have made its session while
	// this one waited: this one resumes it, as if it had come second, and
	// the session just made goes (never announced: the host never knew
	// it). Checked again under openMu, with registering this session, so
	// that one token never makes two.
	refused := r.refused
	probed := false
	p.openMu.Lock()
	for {
		r := p.resumeLocked(s, key, probed)
		if r.probe != nil {
			p.openMu.Unlock()
			probed = true
			if err := p.probe(ctx, r.probe); err != nil {
				sess.Disconnected("")
				return nil, false, err
			}
			p.openMu.Lock()
			continue
		}
		if r.c != nil {
			p.openMu.Unlock()
			sess.Disconnected("")
			return r.c, true, nil
		}
		key = r.key
		if r.refused != "" {
			refused = r.refused
		}
		break
	}
	defer p.openMu.Unlock()
	sess.Update(func(d *sdk.SessionData) {
		// Evennia's clients expect to find their URL's csessid in the
		// session. A token from a first message stays in the plugin: it
		// is a bearer secret, and the host has no use for it.
		if key.inURL {
			d.Csessid = key.token
		}
		d.ProtocolFlags.SetAll(socketFlags(s))
	})
	c.mu.Lock()
	c.sess = sess
	if c.ended {
		// The portal closed it already (the host shut everything down).
		c.mu.Unlock()
		return nil, false, errEnded
	}
	c.sock = s
	c.kickLocked()
	c.mu.Unlock()
	p.register(c, key)
	if refused != "" {
		c.notice(refused)
	}
	if s.sessionMade != nil {
		s.sessionMade()
	}
	// Not announced here: openWatched does, once it stops reading ahead
	// (see there).
	return c, false, nil
}

// resumed is what became of a connection's token.
type resumed struct {
	// c is the session resumed, if one was.
	c *client
	// key is the key a new session is made with: none at all when the
	// token names a session it may not have (another account's, or one
	// open elsewhere), which must not be reached through a new one made
	// with it.
	key resumeKey
	// probe, when not nil, is the live connection, from another client
	// network, of the session the token names: it is pinged first.
	probe *socket
	// refused, when not "", tells the client why its token did not
	// resume the session.
	refused string
}

// resume resumes the session key names for s when it may, pinging the
// session's connection first if it is open from another network.
func (p *Plugin) resume(ctx context.Context, s *socket, key resumeKey) (resumed, error) {
	probed := false
	for {
		p.openMu.Lock()
		r := p.resumeLocked(s, key, probed)
		p.openMu.Unlock()
		if r.probe == nil {
			return r, nil
		}
		probed = true
		if err := p.probe(ctx, r.probe); err != nil {
			return resumed{}, err
		}
	}
}

// probe pings old, the open connection of a session a connection from
// another network asks for, and waits for its pong up to ping_timeout
// (the default when pings are off), or until ctx ends (the client that
// asks went away). One that does not answer is dead (socket.alive drops
// it): the session can then be taken over. Not under openMu, which every
// new connection needs.
func (p *Plugin) probe(ctx context.Context, old *socket) error {
	timeout := time.Duration(p.settings().cfg.PingTimeout)
	if timeout <= 0 {
		timeout = DefaultPingTimeout
	}
	// Owned here; it ends within timeout, with the ping.
	done := make(chan struct{})
	go func() {
		defer close(done)
		old.alive(timeout)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("websocket: left while its session's other connection was pinged: %w", context.Cause(ctx))
	}
}

// resumeLocked attaches s to the session key names, if there is one to
// resume and the token is still good for it. A portico.v1 token is
// renewed: the page is sent a new one, and the one it presented resumes
// nothing more. When the session's connection is open from another
// network and alive, it is not taken over: with probed false, the caller
// is asked to ping it first; with probed true (it answered), the
// connection gets a new session of its own. openMu must be held.
func (p *Plugin) resumeLocked(s *socket, key resumeKey, probed bool) resumed {
	if key.token == "" || p.settings().cfg.ResumeGrace <= 0 {
		return resumed{key: key}
	}
	c := p.lookup(key)
	if c == nil {
		return resumed{key: key}
	}
	var token string
	if !key.inURL {
		token = newToken()
	}
	old, res := c.attach(s, msgResumed, token, p.now())
	switch res {
	case attached:
		if old != nil {
			p.log.Info("websocket: session taken over by a newer connection", "sessid", c.sess.ID(),
				"old_addr", old.addr, "new_addr", s.addr, "old_dead", old.dead.Load())
			go old.close(closeReplaced, msgReplaced)
		}
		if token != "" {
			p.rekey(c, resumeKey{token: token})
		}
		c.refresh(s)
		return resumed{c: c}
	case attachBusy:
		if !probed {
			return resumed{key: key, probe: old}
		}
		p.log.Warn("websocket: resume token refused: its session is open from another address, and that connection answers",
			"sessid", c.sess.ID(), "open_addr", old.addr, "addr", s.addr)
		return resumed{refused: msgInUseElsewhere}
	case attachExpired:
		p.log.Info("websocket: resume token expired", "addr", s.addr, "sessid", c.sess.ID())
	case attachWrongAccount:
		p.log.Warn("websocket: resume token refused: its session is no longer logged in as the account the token was bound to",
			"addr", s.addr, "sessid", c.sess.ID())
		return resumed{}
	}
	return resumed{key: key}
}

// socketFlags are the protocol flags a connection sets, as Evennia's
// webclient does: a CLIENTNAME naming the browser and the wire format,
// UTF-8, all colours, OOB when the format carries it, and ISTYPING for
// Evennia's own webclient format (its is_typing plugin).
func socketFlags(s *socket) map[string]any {
	browser := ""
	if s.q.browser != "" {
		browser = ":" + s.q.browser
	}
	flags := map[string]any{
		contract.FlagClientName: fmt.Sprintf("Evennia Webclient (websocket%s [%s])", browser, s.format.Name()),
		contract.FlagUTF8:       true,
		"OOB":                   s.format.OOB(),
		contract.FlagTrueColor:  true,
		contract.FlagXterm256:   true,
		contract.FlagANSI:       true,
	}
	switch s.format.(type) {
	case v1Format, porticoFormat:
		flags["ISTYPING"] = true
	}
	return flags
}

// refresh tells the host what changed with a resume: the address, and the
// flags when the new connection speaks another format or browser.
func (c *client) refresh(s *socket) {
	var fields []string
	flags := socketFlags(s)
	c.sess.Update(func(d *sdk.SessionData) {
		if d.Address != s.addr {
			d.Address = s.addr
			fields = append(fields, contract.FieldAddress)
		}
		changed := false
		for k, v := range flags {
			if cur, ok := d.ProtocolFlags.Get(k); !ok || cur != v {
				d.ProtocolFlags.Set(k, v)
				changed = true
			}
		}
		if changed {
			fields = append(fields, contract.FieldProtocolFlags)
		}
	})
	if len(fields) > 0 {
		c.sess.Sync(fields...)
	}
}

// isClean reports whether a connection's close code ends its session at
// once: 1000 only (closed on purpose). Anything else, a missing close
// frame included, is a dropped connection, resumable within resume_grace;
// so is 1001 (going away), which a browser sends when a page reloads.
// Evennia ends the session on 1001 and logs the reloaded page in again;
// here a resume takes the old session over and never makes a second one.
func isClean(code websocket.StatusCode) bool {
	return code == websocket.StatusNormalClosure
}
