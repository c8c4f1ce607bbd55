package main

import (
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
)

// client is the sdk.Conn behind one websocket session. It outlives the
// connections that carry it: a page reload or a dropped connection detaches
// its socket, and a new connection presenting the same resume token
// (csessid) within the resume grace attaches in its place, so that the
// session keeps its id and its login (Evennia's #1562/#1075: a reload must
// not make a second session; #3442: a dead connection must not leave an
// immortal one).
//
// A token is a bearer secret, so it is good for less than "whoever has
// it": only for this session, only while the session is logged in as the
// account it was first logged in as (the host's login event binds it),
// only until resume_grace after the connection was lost, by the clock,
// even should the grace timer be late, and, while the session's
// connection is open, only from that connection's client network unless
// the connection turns out dead. A portico.v1 token is good for one
// resume: each resume gives the page a new one.
//
// Output goes into the client's queue and a writer goroutine, which exists
// only while there is something to write and a socket to write it to,
// drains it into the attached socket. What is produced while no socket is
// attached waits in the queue for the next one.
//
// Locking: mu guards the fields after it. No sdk.Session method is called
// and nothing blocks on the network while mu is held. Plugin.mu (the
// csessid registry) is never taken while mu is held. writeMu is held by a
// writer for one batch, so that batches reach the client in order even
// while one socket replaces another.
type client struct {
	p *Plugin
	// key is the resume token that resumes the session; zero when it
	// cannot be resumed. Guarded by Plugin.mu: a portico.v1 resume
	// replaces it.
	key     resumeKey
	limiter *rateLimiter
	// sess is set under mu when the session is made; a goroutine that
	// may run before then (a writer, Close) reads it under mu. Once the
	// connection is served, its handler reads it freely.
	sess *sdk.Session

	writeMu sync.Mutex
	// writers counts writer goroutines, so that open can wait for the
	// one writing what the client was shown while it waited its turn
	// (see open) before the socket may serve another client.
	writers sync.WaitGroup

	mu    sync.Mutex
	sock  *socket
	queue outQueue
	// front goes out before the queue on the next write: what a resumed
	// connection is told first.
	front []sdk.Message
	// ended is set once the session is over; nothing attaches any more.
	ended bool
	// closing is set when the host ended the session: once the queue is
	// written the socket is closed with 1000 and closeReason.
	closing     bool
	closeReason string
	grace       *time.Timer
	// graceGen tells a grace timer that fired late that a newer detach
	// (or an attach) has replaced it.
	graceGen uint64
	// echoOff and prompt are what the player's screen shows: a page that
	// attaches while a password is asked for is asked again.
	echoOff bool
	prompt  *sdk.Message
	// lostAt is when the last socket detached without a clean close; a
	// resume later than lostAt plus the grace is refused.
	lostAt time.Time
	// boundUID is the account the token is bound to: the first account
	// the session logged in as, 0 before any login. uid is the account
	// the session is logged in as now (0 when logged out). A resume is
	// refused while they differ.
	boundUID, uid int64
}

var (
	_ sdk.Conn          = (*client)(nil)
	_ sdk.LoginNotifier = (*client)(nil)
	_ sdk.SyncNotifier  = (*client)(nil)
)

// newClient returns a client for a new session; register gives it its
// key once the session is made.
func newClient(p *Plugin) *client {
	return &client{p: p, limiter: newRateLimiter(p.settings().cfg.CommandRate),
		queue: outQueue{max: p.settings().cfg.OutputBuffer}}
}

// LoggedIn is the host's login event: the first account the session
// logs in as is the one its resume token is bound to.
func (c *client) LoggedIn(s *sdk.Session) { c.accountChanged(s) }

// Synced follows the account through the host's syncs, which may log the
// session out or in as another account (after a reload the host refuses a
// session it cannot vouch for).
func (c *client) Synced(s *sdk.Session) { c.accountChanged(s) }

func (c *client) accountChanged(s *sdk.Session) {
	var uid int64
	s.View(func(d *sdk.SessionData) {
		if d.LoggedIn {
			uid = d.UID
		}
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.uid = uid
	if c.boundUID == 0 && uid != 0 {
		c.boundUID = uid
	}
}

// accountMatchesLocked reports whether the session is logged in as the
// account its token is bound to (or has never logged in).
func (c *client) accountMatchesLocked() bool {
	return c.boundUID == 0 || c.uid == c.boundUID
}

// Send queues output for the client. It never blocks on the network.
func (c *client) Send(_ *sdk.Session, msgs []sdk.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	c.queue.push(msgs...)
	c.kickLocked()
}

// notice shows the player a line from the plugin itself.
func (c *client) notice(text string) {
	c.Send(c.sess, []sdk.Message{sdk.Text(text)})
}

// Close ends the connection: the session is gone from the portal (the host
// disconnected it, or the plugin stops). The reason is shown, the queue
// written, and the socket closed with 1000, which tells Evennia's client
// (and ours) not to reconnect by itself.
func (c *client) Close(reason string) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.stopGraceLocked()
	if c.sock == nil || c.sess == nil {
		// No socket to tell, or a session closed before it was made (a
		// limit refused it in NewSession, or the host went away while
		// it waited its turn): the connection's handler tells the
		// client why, in its own way, and closes.
		c.sock = nil
		c.queue.reset()
		c.mu.Unlock()
		c.p.unregister(c)
		return
	}
	if reason != "" {
		c.queue.push(sdk.Text(reason))
	}
	c.closing, c.closeReason = true, reason
	c.kickLocked()
	c.mu.Unlock()
	c.p.unregister(c)
}

// kickLocked starts a writer for the attached socket if there is work and
// none runs yet.
func (c *client) kickLocked() {
	s := c.sock
	if s == nil || s.writing || s.failed || (c.queue.empty() && len(c.front) == 0 && !c.closing) {
		return
	}
	s.writing = true
	// Not counted in the plugin's wait group: a writer ends when its
	// queue is empty or its socket fails, and the socket's handler kills
	// the socket when it returns.
	c.writers.Go(func() { c.writeLoop(s) })
}

// writeLoop writes the queue to s until it is empty, s is no longer the
// attached socket, or s fails. A batch that fails goes back to the front
// of the queue for the next socket.
func (c *client) writeLoop(s *socket) {
	for {
		c.writeMu.Lock()
		c.mu.Lock()
		if c.sock != s {
			s.writing = false
			c.mu.Unlock()
			c.writeMu.Unlock()
			return
		}
		batch := append(c.front, c.queue.take()...)
		c.front = nil
		sess := c.sess
		if len(batch) == 0 {
			s.writing = false
			closing, reason := c.closing, c.closeReason
			c.mu.Unlock()
			c.writeMu.Unlock()
			if closing {
				s.close(websocket.StatusNormalClosure, reason)
			}
			return
		}
		// Noted when taken, under the same lock as a resume: whatever
		// a new socket does not get from the queue, the player has been
		// sent.
		c.noteShownLocked(batch)
		c.mu.Unlock()
		n, err := c.writeBatch(s, sess, batch)
		if err != nil {
			c.mu.Lock()
			if !c.ended {
				c.queue.unshift(batch[n:]...)
			}
			s.writing, s.failed = false, true
			// A socket that replaced s gets what s did not take.
			c.kickLocked()
			c.mu.Unlock()
			c.writeMu.Unlock()
			c.p.log.Debug("websocket: write", "addr", s.addr, "err", err)
			// The reader notices and detaches the socket.
			s.kill()
			return
		}
		c.writeMu.Unlock()
	}
}

// writeBatch encodes and writes msgs for the session's flags, or the
// socket's before there is a session (a client waiting its turn is told
// so); it returns how many were written whole.
func (c *client) writeBatch(s *socket, sess *sdk.Session, msgs []sdk.Message) (int, error) {
	var rf renderFlags
	if sess != nil {
		sess.View(func(d *sdk.SessionData) { rf = renderFlagsOf(&d.ProtocolFlags) })
	} else {
		f := contract.FlagsOf(socketFlags(s))
		rf = renderFlagsOf(&f)
	}
	for i, m := range msgs {
		for _, f := range s.format.Encode(m, rf) {
			if err := s.write(f); err != nil {
				return i, err
			}
		}
	}
	return len(msgs), nil
}

// noteShownLocked follows the echo option and the last prompt through the
// output taken for the player.
func (c *client) noteShownLocked(msgs []sdk.Message) {
	for i := range msgs {
		m := &msgs[i]
		if m.Name != "text" && m.Name != "prompt" {
			continue
		}
		if m.Name == "prompt" {
			p := *m
			c.prompt = &p
		}
		if on, set := echoOption(*m); set {
			c.echoOff = !on
		}
	}
}

// attachResult is what became of an attempt to resume a session.
type attachResult int

const (
	attached attachResult = iota
	// attachEnded: the session is over (it ended meanwhile).
	attachEnded
	// attachExpired: the connection was lost longer ago than the grace;
	// the session has been ended now.
	attachExpired
	// attachWrongAccount: the session is logged in as an account other
	// than the one its token is bound to, or logged out.
	attachWrongAccount
	// attachBusy: the session's connection is open, from another client
	// network, and not known to be dead; it is returned, to be pinged.
	attachBusy
)

// attach makes s the client's socket (a resume) and greets it with
// notice, and with token, the resume token from now on, when it is not
// "" (portico.v1), unless the token may not resume the session now (see
// attachResult). The socket it replaces, if any, is returned for the
// caller to close.
//
// A connection that is open is taken over only from its own client
// network (the page opened again, a tab duplicated: what "newest
// connection wins" is for) or once it is known dead (a ping it did not
// answer). A token that leaked, which Evennia's own client puts in its
// URL for proxies and logs to keep, must not take a live session from
// its player at any time.
func (c *client) attach(s *socket, notice, token string, now time.Time) (old *socket, res attachResult) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return nil, attachEnded
	}
	if c.sock == nil && !c.lostAt.IsZero() && now.Sub(c.lostAt) > time.Duration(c.p.settings().cfg.ResumeGrace) {
		// The grace timer has not fired yet (a busy or suspended
		// process): the clock decides, and the session ends now.
		c.endLocked()
		c.mu.Unlock()
		c.p.unregister(c)
		c.p.log.Info("websocket: session not resumed in time; ending it", "sessid", c.sess.ID())
		c.sess.Disconnected(reasonNotResumed)
		return nil, attachExpired
	}
	if !c.accountMatchesLocked() {
		c.mu.Unlock()
		return nil, attachWrongAccount
	}
	if o := c.sock; o != nil && o != s && !o.dead.Load() && !sameNetwork(o, s) {
		c.mu.Unlock()
		return o, attachBusy
	}
	defer c.mu.Unlock()
	c.stopGraceLocked()
	old = c.sock
	c.sock = s
	c.front = []sdk.Message{sdk.Text(notice)}
	if token != "" {
		c.front = append(c.front, tokenMessage(token))
	}
	if c.echoOff && c.prompt != nil {
		// The new page knows nothing of the password being asked for.
		p := *c.prompt
		p.Kwargs = maps.Clone(p.Kwargs)
		if p.Kwargs == nil {
			p.Kwargs = map[string]any{}
		}
		p.Kwargs["options"] = map[string]any{"echo": false}
		c.front = append(c.front, p)
	}
	c.kickLocked()
	return old, attached
}

// detach is called when s's connection ended. A clean close (1000, 1001)
// ends the session at once; any other end keeps it for the resume grace,
// when the client has a token that can bring it back.
func (c *client) detach(s *socket, clean bool, reason string) {
	// Read before mu: Plugin.mu is never taken while mu is held.
	resumable := c.p.keyOf(c).token != ""
	c.mu.Lock()
	if c.sock != s || c.ended {
		c.mu.Unlock()
		return
	}
	c.sock = nil
	grace := time.Duration(c.p.settings().cfg.ResumeGrace)
	if clean || grace <= 0 || !resumable || !c.accountMatchesLocked() {
		c.endLocked()
		c.mu.Unlock()
		c.p.unregister(c)
		c.sess.Disconnected(reason)
		return
	}
	c.graceGen++
	gen := c.graceGen
	c.lostAt = c.p.now()
	c.grace = time.AfterFunc(grace, func() { c.expire(gen) })
	c.mu.Unlock()
	c.p.log.Info("websocket: connection lost; session kept for resume", "sessid", c.sess.ID(),
		"addr", s.addr, "reason", reason, "grace", grace)
}

// expire ends a detached session whose grace ran out.
func (c *client) expire(gen uint64) {
	c.mu.Lock()
	if gen != c.graceGen || c.sock != nil || c.ended {
		c.mu.Unlock()
		return
	}
	c.endLocked()
	c.mu.Unlock()
	c.p.unregister(c)
	c.p.log.Info("websocket: session not resumed in time; ending it", "sessid", c.sess.ID())
	c.sess.Disconnected(reasonNotResumed)
}

// endByClient ends the session because its client asked (websocket_close):
// the host is told, and the socket is closed with 1000.
func (c *client) endByClient(s *socket) {
	c.mu.Lock()
	if c.sock != s || c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.queue.reset()
	c.mu.Unlock()
	c.p.unregister(c)
	c.sess.Disconnected(reasonClientClosed)
	s.close(websocket.StatusNormalClosure, "")
}

// endLocked marks the session over: nothing attaches any more, and what
// was queued for it is dropped.
func (c *client) endLocked() {
	c.ended = true
	c.stopGraceLocked()
	c.queue.reset()
}

func (c *client) stopGraceLocked() {
	c.graceGen++
	if c.grace != nil {
		c.grace.Stop()
		c.grace = nil
	}
}

// Reasons the host is given when a session ends here.
const (
	reasonClientClosed = "websocket closed by the client"
	reasonNotResumed   = "websocket connection lost and not resumed"
	reasonLost         = "websocket connection lost"
)

// errEnded is returned when a session ended while a connection was being
// attached to it.
var errEnded = errors.New("websocket: session ended")
