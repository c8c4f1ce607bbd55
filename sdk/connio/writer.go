// Package connio queues output for one client connection so that a plugin's
// Send never blocks on the network. A writer goroutine exists only while
// there is a backlog; writes are coalesced with net.Buffers. A client that
// stops reading is cut off once its backlog passes a bound, instead of
// growing memory without end. A Watcher notices a client that hangs up
// before the plugin reads its connection (while it waits its turn to
// connect). A Conn is read by a goroutine only while its client sends: a
// quiet one waits in a Poller with no goroutine and no buffer.
package connio

import (
	"errors"
	"net"
	"sync"
	"syscall"
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
	// raw, when set, lets Write try the socket directly; counter, when
	// set, is told what was written there.
	raw     syscall.RawConn
	counter WriteCounter

	mu      sync.Mutex
	pending net.Buffers
	size    int
	writing bool
	closing bool // close the conn once pending is written
	closed  bool
	// finished is set once the conn has been closed; flushed, made by the
	// first Done, is closed then. It is made on demand, not with the
	// Writer: most connections never ask, and each of thousands of idle
	// connections would keep its 96 bytes.
	finished bool
	flushed  chan struct{}
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

// NewWriter returns a Writer for conn. When conn exposes its socket
// (a TCP connection does; TLS does not), writes without a backlog go
// straight to the socket without blocking.
func NewWriter(conn net.Conn, opts Options) *Writer {
	if opts.MaxBacklog <= 0 {
		opts.MaxBacklog = 4 << 20
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	w := &Writer{conn: conn, maxBacklog: opts.MaxBacklog, writeTimeout: opts.WriteTimeout,
		onError: opts.OnError}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
			w.counter, _ = conn.(WriteCounter)
		}
	}
	return w
}

// WriteCounter is a connection that counts the bytes written to it (the
// SDK counts a plugin's client traffic so): a Writer that writes to the
// connection's socket directly, past its Write, tells it how many bytes
// it wrote there.
type WriteCounter interface {
	// CountWritten counts n bytes written to the socket.
	CountWritten(n int)
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
	if !w.writing && w.raw != nil {
		// No backlog: try to hand the bytes to the kernel right here,
		// without blocking, and start a writer only for what does not fit.
		// This spares a goroutine start and a wake-up per output.
		w.writing = true
		w.mu.Unlock()
		n, err := w.tryWrite(b)
		if err != nil {
			w.mu.Lock()
			w.writing = false
			w.mu.Unlock()
			w.fail(err)
			return err
		}
		w.mu.Lock()
		if n < len(b) {
			w.pending = append(net.Buffers{b[n:]}, w.pending...)
			w.size += len(b) - n
		}
		if len(w.pending) == 0 && !w.closing {
			w.writing = false
			w.mu.Unlock()
			return nil
		}
		w.mu.Unlock()
		go w.flush()
		return nil
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

// tryWrite writes as much of b as the socket takes now, never waiting.
func (w *Writer) tryWrite(b []byte) (int, error) {
	n, err := TryWrite(w.raw, b)
	if w.counter != nil && n > 0 {
		w.counter.CountWritten(n)
	}
	return n, err
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
func (w *Writer) Done() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.flushed == nil {
		w.flushed = make(chan struct{})
		if w.finished {
			close(w.flushed)
		}
	}
	return w.flushed
}

// finish records that the connection has been closed, for Done.
func (w *Writer) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finished = true
	if w.flushed != nil {
		close(w.flushed)
	}
}

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
				w.finish()
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
	w.finish()
	if w.onError != nil {
		w.onError(err)
	}
}
