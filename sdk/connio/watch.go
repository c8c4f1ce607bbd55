package connio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// ErrHungUp is the cause of a Watcher's context when the client went away.
var ErrHungUp = errors.New("connio: client hung up")

// Watcher notices a client hanging up while its plugin is not reading the
// connection yet — while it waits in Portal.NewSession for its turn in
// the connection queue. Without it a client that left would keep its
// place, and its network's slot, until its turn came.
type Watcher struct {
	conn   net.Conn
	ctx    context.Context
	cancel context.CancelCauseFunc
	// stopping tells the reader that the deadline error it gets is Stop's.
	stopping atomic.Bool
	done     chan struct{} // closed when the reader returns
	// Owned by the reader until done is closed.
	buf []byte
	err error
}

// Watch starts reading conn in a goroutine until Stop. What the client
// sends meanwhile is kept, up to limit bytes; past that the Watcher stops
// reading (a client that sends so much before its turn is noticed leaving
// only at its turn). The Watcher's Context, a child of parent, ends with
// cause ErrHungUp when a read fails: the client hung up or the connection
// broke.
func Watch(parent context.Context, conn net.Conn, limit int) *Watcher {
	ctx, cancel := context.WithCancelCause(parent)
	w := &Watcher{conn: conn, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go w.read(limit)
	return w
}

func (w *Watcher) read(limit int) {
	defer close(w.done)
	chunk := make([]byte, 512)
	for len(w.buf) < limit {
		n, err := w.conn.Read(chunk[:min(len(chunk), limit-len(w.buf))])
		w.buf = append(w.buf, chunk[:n]...)
		if err != nil {
			if w.stopping.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			w.err = err
			w.cancel(fmt.Errorf("%w: %w", ErrHungUp, err))
			return
		}
	}
}

// Context ends when the client hangs up (or parent ends, or Stop is
// called): pass it to Portal.NewSession.
func (w *Watcher) Context() context.Context { return w.ctx }

// Stop ends the watch and returns what the client sent meanwhile, which
// the caller must handle before anything it reads from conn itself, and
// the read error when the client has gone (nil while it is still there).
// It interrupts the pending read with a deadline in the past, then clears
// the deadline; a TLS connection survives this (a timeout does not break
// its state). The Watcher's Context ends too.
func (w *Watcher) Stop() ([]byte, error) {
	w.stopping.Store(true)
	_ = w.conn.SetReadDeadline(time.Unix(1, 0))
	<-w.done
	_ = w.conn.SetReadDeadline(time.Time{})
	w.cancel(nil)
	return w.buf, w.err
}
