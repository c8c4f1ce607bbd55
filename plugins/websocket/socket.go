package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
)

// Close codes this plugin and its page use besides RFC 6455's.
const (
	// closePageUnload is sent by the webclient page when it unloads (a
	// reload, a tab closed): the session is kept for the resume grace,
	// where the browser's own 1001 would end it at once.
	closePageUnload websocket.StatusCode = 4000
	// closeReplaced tells a connection that a newer one with the same
	// csessid took its session over (the page was opened again, in
	// another tab too); the page does not reconnect on its own after it.
	closeReplaced websocket.StatusCode = 4001
)

// writeTimeout bounds one message written to a client; a client that takes
// longer is treated as gone (its output waits for a resume).
const writeTimeout = 10 * time.Second

// socket is one websocket connection. It serves one client (session) at a
// time; the client's lock guards writing.
type socket struct {
	ws     *websocket.Conn
	format wireFormat
	addr   string
	q      query
	// key is the resume token this connection presented and how: from
	// the URL (v1.evennia.com and the MUD Standards formats), or from
	// the first message (portico.v1, set by readFirstMessage before the
	// connection gets its session). A zero key resumes nothing.
	key resumeKey
	// ctx ends when the connection is done with; cancelling it aborts
	// reads and writes.
	ctx    context.Context
	cancel context.CancelFunc

	// writing is set while a writer goroutine serves this socket, failed
	// once a write to it failed; both are guarded by the owning client's
	// mu.
	writing, failed bool
	// badInputs counts refused messages; only the reader touches it.
	badInputs int

	// sessionMade, when set, runs once the connection has its own new
	// session, just before the host is told of it: the connection then
	// stops counting as one without a session (serveWS's pending count),
	// so that a client which sees its session has room for another.
	sessionMade func()

	// dead is set once a ping went unanswered: the connection has been
	// dropped, and its session may be taken over from anywhere.
	dead atomic.Bool

	pingMu    sync.Mutex
	pingTimer *time.Timer
	stopped   bool
}

func newSocket(parent context.Context, ws *websocket.Conn, addr string, q query) *socket {
	ctx, cancel := context.WithCancel(parent)
	s := &socket{ws: ws, format: negotiated(ws.Subprotocol()), addr: addr, q: q, ctx: ctx, cancel: cancel}
	if _, ok := s.format.(porticoFormat); ok {
		// The page keeps its token out of URLs; one found there was put
		// there by someone else, and is not believed.
		s.q.csessid = ""
	} else if q.csessid != "" {
		s.key = resumeKey{token: q.csessid, inURL: true}
	}
	return s
}

// write sends one frame, bounded by writeTimeout. coder/websocket closes
// the connection when the deadline passes, which the reader then sees.
func (s *socket) write(f frame) error {
	ctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
	defer cancel()
	return s.ws.Write(ctx, f.typ, f.data)
}

// close performs the closing handshake with code and reason. It blocks
// for at most the handshake's own timeouts (5 s to write, 5 s to hear
// back), so callers that must not block run it in a goroutine.
func (s *socket) close(code websocket.StatusCode, reason string) {
	// An error means the peer is gone already: nothing is left to do.
	_ = s.ws.Close(code, closeReason(reason))
}

// kill drops the connection without a handshake.
func (s *socket) kill() { _ = s.ws.CloseNow() }

// closeReason fits reason into a close frame, which holds 123 bytes of
// it, cutting at a character boundary.
func closeReason(reason string) string {
	const max = 123
	if len(reason) <= max {
		return reason
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut]
}

// startPing pings the client every interval from a timer (no goroutine
// waits in between); a pong missing for timeout drops the connection,
// which the reader sees as an abnormal close.
func (s *socket) startPing(interval, timeout time.Duration) {
	if interval <= 0 {
		return
	}
	s.pingMu.Lock()
	defer s.pingMu.Unlock()
	if s.stopped {
		return
	}
	s.pingTimer = time.AfterFunc(interval, func() { s.ping(interval, timeout) })
}

func (s *socket) ping(interval, timeout time.Duration) {
	if !s.alive(timeout) {
		return
	}
	s.pingMu.Lock()
	defer s.pingMu.Unlock()
	if !s.stopped {
		s.pingTimer.Reset(interval)
	}
}

// alive pings the client and waits up to timeout for its pong. A client
// that does not answer is taken for dead: the connection is marked so and
// dropped, which its reader sees as an abnormal close. The pong is read
// by the connection's reader, so only a socket being served can answer.
func (s *socket) alive(timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	err := s.ws.Ping(ctx)
	cancel()
	if err != nil {
		s.dead.Store(true)
		// Ping closed the connection when its deadline passed; make sure
		// of it for any other failure too.
		s.kill()
		return false
	}
	return true
}

// sameNetwork reports whether a and b come from one client network (an
// IPv4 address, an IPv6 /64: sdk.ClientNetwork), as the real client
// address behind a trusted proxy.
func sameNetwork(a, b *socket) bool {
	n := sdk.ClientNetwork(a.addr)
	return n != "" && n == sdk.ClientNetwork(b.addr)
}

// stopPing stops pinging for good.
func (s *socket) stopPing() {
	s.pingMu.Lock()
	defer s.pingMu.Unlock()
	s.stopped = true
	if s.pingTimer != nil {
		s.pingTimer.Stop()
	}
}
