// Package connio queues output for one client connection so that a plugin's
// Send never blocks on the network. A writer goroutine exists only while
// there is a backlog; writes are coalesced with net.Buffers. A client that
// stops reading is cut off once its backlog passes a bound, instead of
// growing memory without end.
package connio

import (
	"errors"
	"net"
	"sync"
	"time"
)

// ErrBacklog is reported when a client's unsent output passes the bound.
var ErrBacklog = errors.New("connio: client is not reading; output backlog too large")

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("connio: connection closed")

// Writer queues output for one net.Conn.
type Writer struct {
	conn         net.Conn
	maxBacklog   int
	writeTimeout time.Duration
	onError      func(error)

	mu       sync.Mutex
	pending  net.Buffers
	size     int
	writing  bool
	closing  bool // close the conn once pending is written
	closed   bool
	flushed  chan struct{} // closed when the conn has been closed
	closeErr error
}

// Options tune a Writer.
type Options struct {
	// MaxBacklog bounds unsent bytes; past it the connection is closed and
	// OnError called with ErrBacklog. Default 4 MiB.
	MaxBacklog int
	// WriteTimeout bounds one write to the socket. Default 30 s.
	WriteTimeout time.Duration
	// OnError is called once when writing fails (from the writer goroutine)
	// or the backlog overflows (from the Write that overflowed it, after
	// the Writer's lock is released). The connection is already closed then.
	OnError func(error)
}

// NewWriter returns a Writer for conn.
func NewWriter(conn net.Conn, opts Options) *Writer {
	if opts.MaxBacklog <= 0 {
		opts.MaxBacklog = 4 << 20
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	return &Writer{conn: conn, maxBacklog: opts.MaxBacklog, writeTimeout: opts.WriteTimeout,
		onError: opts.OnError, flushed: make(chan struct{})}
}

// Write queues b, which the Writer now owns: the caller must not change it.
func (w *Writer) Write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	w.mu.Lock()
	if w.closing || w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	if w.size+len(b) > w.maxBacklog {
		w.mu.Unlock()
		w.fail(ErrBacklog)
		return ErrBacklog
	}
	w.pending = append(w.pending, b)
	w.size += len(b)
	start := !w.writing
	w.writing = true
	w.mu.Unlock()
	if start {
		go w.flush()
	}
	return nil
}

// Close writes final (may be nil) after everything queued, then closes the
// connection. It does not wait; Done tells when it is closed.
func (w *Writer) Close(final []byte) {
	w.mu.Lock()
	if w.closing || w.closed {
		w.mu.Unlock()
		return
	}
	if len(final) > 0 {
		w.pending = append(w.pending, final)
		w.size += len(final)
	}
	w.closing = true
	start := !w.writing
	w.writing = true
	w.mu.Unlock()
	if start {
		go w.flush()
	}
}

// Done is closed once the connection has been closed by the writer.
func (w *Writer) Done() <-chan struct{} { return w.flushed }

// flush is the writer goroutine: it runs while there is a backlog.
func (w *Writer) flush() {
	for {
		w.mu.Lock()
		if len(w.pending) == 0 {
			w.writing = false
			closing := w.closing && !w.closed
			if closing {
				w.closed = true
			}
			w.mu.Unlock()
			if closing {
				w.conn.Close()
				close(w.flushed)
			}
			return
		}
		bufs := w.pending
		w.pending = nil
		w.size = 0
		w.mu.Unlock()
		_ = w.conn.SetWriteDeadline(time.Now().Add(w.writeTimeout))
		if _, err := bufs.WriteTo(w.conn); err != nil {
			w.mu.Lock()
			w.writing = false
			w.mu.Unlock()
			w.fail(err)
			return
		}
	}
}

// fail closes the connection after an error and reports it once.
func (w *Writer) fail(err error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.closing = true
	w.pending = nil
	w.size = 0
	w.mu.Unlock()
	w.conn.Close()
	close(w.flushed)
	if w.onError != nil {
		w.onError(err)
	}
}
