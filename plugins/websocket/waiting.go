package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/coder/websocket"
)

// While a connection waits for its session — its turn in its address's
// connection queue (limits.connection_rate) may be seconds away — the
// connection is read all the same, so that a client that goes away gives
// its place up at once instead of keeping it, and its address's next
// client waiting behind it, until its turn. What it sends meanwhile is
// kept for its session, as a player who types "connect ..." while queued
// expects.

// Bounds on what a client may send while it waits: a player types a line
// or two; anything past these is dropped (the player is told) but still
// read, so that a hang-up is still noticed. Together with the SDK's bound
// on queued connections they cap what waiting clients can make the plugin
// hold.
const (
	earlyMessages = 16
	earlyBytes    = 16 << 10
)

// msgEarlyDropped tells a player that part of what it sent while queued
// was dropped.
const msgEarlyDropped = "(%d messages you sent while waiting to connect were dropped.)"

// errLeftQueue is the cause of a waiting open's context when its client
// went away.
var errLeftQueue = errors.New("websocket: client left while waiting to connect")

// readResult is one Read's outcome.
type readResult struct {
	typ  websocket.MessageType
	data []byte
	err  error
}

// readAsync runs one Read of s in a goroutine and delivers its result.
// The channel is buffered: the goroutine ends when the Read does, which at
// the latest is when the connection's handler kills the socket on return,
// whether or not anyone takes the result. Only one read may be in flight
// (coder/websocket allows one reader at a time): the caller starts the
// next only after taking this one's result.
func (s *socket) readAsync() <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		typ, data, err := s.ws.Read(s.ctx)
		ch <- readResult{typ: typ, data: data, err: err}
	}()
	return ch
}

// waited is what became of a connection while it waited for its session.
type waited struct {
	c       *client
	resumed bool
	err     error // open's
	// The client went away before its session was made when gone (the
	// read error that ended the connection) or closeAsked (it sent
	// websocket_close) is set. Should open have succeeded all the same
	// (its turn came as it left), next replays the end, or early holds
	// the websocket_close.
	gone       error
	closeAsked bool
	// early is what the client sent meanwhile, to be handled in order
	// once the session exists; dropped counts what did not fit.
	early   []readResult
	dropped int
	// next, when not nil, delivers the read still in flight (or the one
	// that ended the connection), which comes before any later Read.
	next <-chan readResult
}

// left reports whether the client went away while it waited.
func (w *waited) left() bool { return w.gone != nil || w.closeAsked }

// openWatched is open, run while the connection is read: a close frame, a
// dropped connection or a websocket_close cancels the wait (the SDK gives
// the client's place in the queue up), and data messages are kept for the
// session.
func (p *Plugin) openWatched(s *socket) waited {
	ctx, cancel := context.WithCancelCause(s.ctx)
	defer cancel(nil)
	type opened struct {
		c       *client
		resumed bool
		err     error
	}
	// Owned by this call, which always waits for it.
	done := make(chan opened, 1)
	go func() {
		c, resumed, err := p.open(ctx, s)
		done <- opened{c, resumed, err}
	}()
	var w waited
	size := 0
	read := s.readAsync()
	for {
		select {
		case o := <-done:
			w.c, w.resumed, w.err = o.c, o.resumed, o.err
			if o.err == nil && !o.resumed {
				// A new session is announced only now that this loop no
				// longer reads ahead: the host answers a Connect at once,
				// and what the client sends from then on is the
				// session's input, not early input that the limits above
				// would drop while open was still returning.
				o.c.sess.Connect()
			}
			if w.next == nil {
				w.next = read
			}
			return w
		case r := <-read:
			read = nil
			if r.err != nil {
				w.gone = r.err
				cancel(fmt.Errorf("%w: %w", errLeftQueue, r.err))
				// The end is replayed to the session, should open
				// succeed all the same (its turn came as it left).
				replay := make(chan readResult, 1)
				replay <- r
				w.next = replay
				continue
			}
			if in, err := s.format.Decode(r.typ, r.data); err == nil && in.close {
				// A clean end asked for: the page's Disconnect button.
				// Kept as input, should open succeed all the same; no
				// more is read, as after websocket_close the client
				// sends nothing but its close frame.
				w.closeAsked = true
				w.early = append(w.early, r)
				cancel(fmt.Errorf("%w: websocket_close", errLeftQueue))
				continue
			}
			if len(w.early) < earlyMessages && size+len(r.data) <= earlyBytes {
				w.early = append(w.early, r)
				size += len(r.data)
			} else {
				w.dropped++
			}
			read = s.readAsync()
		}
	}
}
