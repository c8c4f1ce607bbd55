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
// host is away and the plugin has used up its ids).
const newSessionTimeout = 10 * time.Second

// Messages a client is shown about its connection.
const (
	msgResumed  = "Reconnected: your session was resumed."
	msgReplaced = "This session was opened in another window."
	msgNotReady = "The server is not ready; please try again in a moment."
)

// open gives a new connection its session: the one its resume token
// names, if that one still waits for a resume (or is attached elsewhere:
// the page was opened again, and the newest connection wins) and the token
// is still good for it, or a new one.
func (p *Plugin) open(s *socket) (c *client, resumed bool, err error) {
	p.openMu.Lock()
	c, key, resumed := p.resumeLocked(s, s.key)
	p.openMu.Unlock()
	if resumed {
		return c, true, nil
	}
	c = newClient(p, key)
	// Not under openMu: NewSession may keep the client waiting its turn in
	// its address's connection queue, and nobody else may wait behind it.
	ctx, cancel := context.WithTimeout(s.ctx, newSessionTimeout)
	sess, err := p.portal.NewSession(ctx, c, ProtocolKey, s.addr)
	cancel()
	if err != nil {
		return nil, false, fmt.Errorf("websocket: new session: %w", err)
	}
	p.openMu.Lock()
	defer p.openMu.Unlock()
	// Another connection with this token may have made its session while
	// this one waited: this one resumes it, as if it had come second, and
	// the session just made goes (never announced: the host never knew it).
	if rc, _, ok := p.resumeLocked(s, key); ok {
		sess.Disconnected("")
		return rc, true, nil
	}
	sess.Update(func(d *sdk.SessionData) {
		// Evennia's clients expect to find their URL's csessid in the
		// session. A token from a first message stays in the plugin: it
		// is a bearer secret, and the host has no use for it.
		if key.inURL {
			d.Csessid = key.token
		}
		for k, v := range socketFlags(s) {
			d.ProtocolFlags[k] = v
		}
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
	if c.key.token != "" && p.settings().cfg.ResumeGrace > 0 {
		p.register(c)
	}
	sess.Connect()
	return c, false, nil
}

// resumeLocked attaches s to the session key names, if there is one to
// resume and the token is still good for it. It returns the key a new
// session should be made with: none at all when the token names a session
// no longer logged in as the account the token was bound to, which must
// not be reached through a new one made with it. openMu must be held.
func (p *Plugin) resumeLocked(s *socket, key resumeKey) (*client, resumeKey, bool) {
	if key.token == "" || p.settings().cfg.ResumeGrace <= 0 {
		return nil, key, false
	}
	c := p.lookup(key)
	if c == nil {
		return nil, key, false
	}
	old, res := c.attach(s, msgResumed, p.now())
	switch res {
	case attached:
		if old != nil {
			p.log.Info("websocket: session taken over by a newer connection", "sessid", c.sess.ID(),
				"old_addr", old.addr, "new_addr", s.addr)
			go old.close(closeReplaced, msgReplaced)
		}
		c.refresh(s)
		return c, key, true
	case attachExpired:
		p.log.Info("websocket: resume token expired", "addr", s.addr, "sessid", c.sess.ID())
	case attachWrongAccount:
		p.log.Warn("websocket: resume token refused: its session is no longer logged in as the account the token was bound to",
			"addr", s.addr, "sessid", c.sess.ID())
		return nil, resumeKey{}, false
	}
	return nil, key, false
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
			if d.ProtocolFlags[k] != v {
				d.ProtocolFlags[k] = v
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
// once: 1000 (closed on purpose) and 1001 (going away), as in Evennia.
// Anything else, a missing close frame included, is a dropped connection.
func isClean(code websocket.StatusCode) bool {
	return code == websocket.StatusNormalClosure || code == websocket.StatusGoingAway
}
