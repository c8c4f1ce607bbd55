package wire

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portico-mud/portico/sdk/connio"
)

// Errors of a FrameWriter.
var (
	// ErrLinkStopped is returned by Append once Stop was called: the caller
	// keeps the frame for the next link (the Outbox queues it).
	ErrLinkStopped = errors.New("wire: data link stopped")
	// ErrLinkBacklog is the peer not reading: more than the writer's
	// MaxBacklog waits to be written. The link fails with it.
	ErrLinkBacklog = errors.New("wire: data link backlog too large: the peer is not reading")
)

// DefaultLinkBacklog is a FrameWriter's MaxBacklog unless told otherwise:
// far above what a live peer leaves unread (a reload's sync of 10,000
// sessions is a few MiB), low enough that a stuck one cannot grow the
// writer's memory without end.
const DefaultLinkBacklog = 64 << 20

// DefaultLinkWriteTimeout bounds how long a blocked write may make no
// progress before the link fails.
const DefaultLinkWriteTimeout = 30 * time.Second

// WriterOptions tune a FrameWriter.
type WriterOptions struct {
	// MaxBacklog bounds the bytes waiting to be written; past it the link
	// fails with ErrLinkBacklog. Default DefaultLinkBacklog.
	MaxBacklog int
	// WriteTimeout bounds a write of the backlog that makes no progress;
	// past it the link fails. Default DefaultLinkWriteTimeout.
	WriteTimeout time.Duration
	// OnError is called once when the link fails (a write error, the
	// backlog bound, the write timeout), outside the writer's lock and
	// before the writer closes the connection, so that its owner can note
	// why before its reader sees the connection end.
	OnError func(error)
	// Version is the data link version both sides agreed in their hellos
	// (FrameReader.Version); 0 means 1. From DataVersion on, the Outbox
	// writes plain input and output as data frames.
	Version byte
}

// FrameWriter writes a data link's frames, and never makes its caller wait
// for the peer: whoever has a frame appends it to the writer's buffer, and
// the caller that finds no write in progress hands the buffer, with
// whatever other callers appended meanwhile, to the kernel in one
// non-blocking write (connio.TryWrite) on its own goroutine. Frames that
// the socket does not take at once are written by a flusher goroutine that
// exists only while there is such a backlog; the backlog is bounded, and
// the link fails when the peer leaves it unread. A connection without a
// raw socket (TLS) always goes through the flusher.
//
// Blocking here would deadlock: a plugin writes a session's input while
// holding the session's lock, and its reader needs that lock to deliver
// the output the host would be blocked writing; on the host, a stuck
// plugin would hold the game.
type FrameWriter struct {
	conn    net.Conn
	raw     syscall.RawConn
	timeout time.Duration
	onError func(error)
	version byte
	max     atomic.Int64

	mu   sync.Mutex
	idle sync.Cond
	// pending holds whole frames back to back; spare is the buffer the
	// last write used, reused for the next batch.
	pending, spare []byte
	// writing is set while a caller or the flusher owns the socket.
	writing bool
	// corked counts Cork calls not yet undone: frames wait meanwhile.
	corked  int
	stopped bool
	err     error
}

// NewFrameWriter writes frames to conn.
func NewFrameWriter(conn net.Conn, o WriterOptions) *FrameWriter {
	if o.MaxBacklog <= 0 {
		o.MaxBacklog = DefaultLinkBacklog
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultLinkWriteTimeout
	}
	w := &FrameWriter{conn: conn, timeout: o.WriteTimeout, onError: o.OnError, version: max(o.Version, 1)}
	w.idle.L = &w.mu
	w.max.Store(int64(o.MaxBacklog))
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	return w
}

// Version is the data link version the writer's frames follow.
func (w *FrameWriter) Version() byte { return w.version }

// SetMaxBacklog changes the backlog bound (a live config edit).
func (w *FrameWriter) SetMaxBacklog(n int) {
	if n > 0 {
		w.max.Store(int64(n))
	}
}

// Backlog returns the bytes waiting to be written.
func (w *FrameWriter) Backlog() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// Append appends one or more frames with enc (AppendEvents, AppendPing...)
// and writes them without waiting. It fails with ErrLinkStopped after
// Stop, with the link's error once it failed, and with ErrLinkBacklog
// (failing the link) when the backlog passes its bound; with enc's error
// (nothing appended) when enc fails.
func (w *FrameWriter) Append(enc func([]byte) ([]byte, error)) error {
	w.mu.Lock()
	if err := w.refuseLocked(); err != nil {
		w.mu.Unlock()
		return err
	}
	n0 := len(w.pending)
	b, err := enc(w.pending)
	if err != nil {
		w.pending = b[:n0]
		w.mu.Unlock()
		return err
	}
	w.pending = b
	if int64(len(b)) > w.max.Load() {
		w.failLocked(ErrLinkBacklog)
		return ErrLinkBacklog
	}
	if w.writing || w.corked > 0 {
		// The write in progress, or Uncork, takes this frame too.
		w.mu.Unlock()
		return nil
	}
	w.writing = true
	w.drainLocked()
	return nil
}

// Cork holds frames back, each Append only adding to the backlog (the
// bound still applies), until as many Uncork calls: the frames a batch of
// work makes go out in one write. Calls nest.
func (w *FrameWriter) Cork() {
	w.mu.Lock()
	w.corked++
	w.mu.Unlock()
}

// Uncork undoes one Cork; the last one writes what was held, without
// waiting, as Append does.
func (w *FrameWriter) Uncork() {
	w.mu.Lock()
	if w.corked > 0 {
		w.corked--
	}
	if w.corked > 0 || w.writing || len(w.pending) == 0 || w.refuseLocked() != nil {
		w.mu.Unlock()
		return
	}
	w.writing = true
	w.drainLocked()
}

func (w *FrameWriter) refuseLocked() error {
	if w.err != nil {
		return w.err
	}
	if w.stopped {
		return ErrLinkStopped
	}
	return nil
}

// preload appends frames without the bound and without writing them: the
// Outbox hands a new link what it queued (kick then writes it).
func (w *FrameWriter) preload(enc func([]byte) ([]byte, error)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.refuseLocked(); err != nil {
		return err
	}
	n0 := len(w.pending)
	b, err := enc(w.pending)
	if err != nil {
		w.pending = b[:n0]
		return err
	}
	w.pending = b
	return nil
}

// kick writes what preload left, unless a write is in progress.
func (w *FrameWriter) kick() {
	w.mu.Lock()
	if w.writing || len(w.pending) == 0 || w.refuseLocked() != nil {
		w.mu.Unlock()
		return
	}
	w.writing = true
	w.drainLocked()
}

// drainLocked writes the pending frames on the caller's goroutine, without
// waiting, until none are left or the socket is full (the flusher takes
// over). w.mu is held and writing set; it returns with w.mu released.
func (w *FrameWriter) drainLocked() {
	for len(w.pending) > 0 && w.err == nil {
		if w.raw == nil {
			w.mu.Unlock()
			go w.flush()
			return
		}
		buf := w.pending
		w.pending = w.spare[:0]
		w.mu.Unlock()
		n, err := connio.TryWrite(w.raw, buf)
		w.mu.Lock()
		if err != nil {
			w.failLocked(err)
			return
		}
		if n < len(buf) {
			// The rest goes first, before what was appended meanwhile.
			rest := copy(buf, buf[n:])
			buf = append(buf[:rest], w.pending...)
			w.spare, w.pending = w.pending[:0], buf
			w.mu.Unlock()
			go w.flush()
			return
		}
		w.spare = buf[:0]
	}
	w.doneWritingLocked()
	w.mu.Unlock()
}

// flushChunk bounds one blocking write of the backlog, so that the write
// timeout measures progress, not the size of the backlog.
const flushChunk = 256 << 10

// flush is the flusher goroutine: it writes the backlog with blocking
// writes, each bounded by the write timeout, and ends when the backlog is
// gone or the link failed.
func (w *FrameWriter) flush() {
	w.mu.Lock()
	for len(w.pending) > 0 && w.err == nil {
		buf := w.pending
		w.pending = w.spare[:0]
		w.mu.Unlock()
		var err error
		for off := 0; off < len(buf) && err == nil; off += flushChunk {
			end := min(off+flushChunk, len(buf))
			_ = w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
			_, err = w.conn.Write(buf[off:end])
		}
		w.mu.Lock()
		if err != nil {
			w.failLocked(err)
			return
		}
		w.spare = buf[:0]
	}
	if w.err == nil {
		_ = w.conn.SetWriteDeadline(time.Time{})
	}
	w.doneWritingLocked()
	w.mu.Unlock()
}

// doneWritingLocked ends a write: waiters on idle are woken, and buffers a
// burst made large are let go, so that an idle link holds little.
func (w *FrameWriter) doneWritingLocked() {
	w.writing = false
	if cap(w.pending) > keepBody {
		w.pending = nil
	}
	if cap(w.spare) > keepBody {
		w.spare = nil
	}
	w.idle.Broadcast()
}

// failLocked fails the link with err: frames not yet written are dropped,
// OnError is called and the connection closed. w.mu is held; it returns
// with w.mu released.
func (w *FrameWriter) failLocked(err error) {
	first := w.err == nil
	if first {
		w.err = err
	}
	w.pending, w.spare = nil, nil
	w.writing = false
	w.idle.Broadcast()
	w.mu.Unlock()
	if first {
		if w.onError != nil {
			w.onError(err)
		}
		w.conn.Close()
	}
}

// Stop ends inline writing: Append fails with ErrLinkStopped from now on.
// It waits until what was appended before is written (or the link failed,
// which the write timeout bounds), then writes final (nil: nothing) with a
// blocking write, the link's last frame from this side, and returns the
// link's error, if any.
func (w *FrameWriter) Stop(final []byte) error {
	w.mu.Lock()
	w.stopped = true
	w.corked = 0
	if !w.writing && len(w.pending) > 0 && w.err == nil {
		// Frames held by a Cork go now.
		w.writing = true
		w.drainLocked()
		w.mu.Lock()
	}
	for w.writing {
		w.idle.Wait()
	}
	err := w.err
	w.mu.Unlock()
	if err != nil || len(final) == 0 {
		return err
	}
	_ = w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
	_, err = w.conn.Write(final)
	_ = w.conn.SetWriteDeadline(time.Time{})
	return err
}

// Err returns the link's error: nil while it works.
func (w *FrameWriter) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
