package connio

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// A goroutine blocked in Read costs a connection its stack (4 KiB or more
// once it has run a protocol's set-up, and the runtime does not shrink a
// parked stack below that) and its read buffer, for as long as the client
// stays connected, which for a MUD is mostly time spent idle. Conn reads
// instead in a goroutine only while bytes come: once none has come for
// IdleAfter, the connection is handed to a Poller (one epoll set for all of
// a plugin's connections, itself waited on by Go's own poller) and the
// goroutine ends, giving its stack and buffer back. When bytes arrive, a
// goroutine starts again. What an idle connection keeps is its socket and
// the plugin's own state. A Poller made with PollerOptions.ReadInline goes
// further for plain sockets: it reads them itself, busy or idle, and no
// connection has a goroutine at all.

// DefaultIdleAfter is ReadOptions.IdleAfter when it is not set. A
// connection goes idle between one and two times this after its last byte.
const DefaultIdleAfter = time.Second

// DefaultReadBuffer is ReadOptions.BufferSize when it is not set.
const DefaultReadBuffer = 2048

// ReadOptions tune Conn.Serve.
type ReadOptions struct {
	// IdleAfter is how long a connection must be quiet before it is
	// parked: DefaultIdleAfter when 0.
	IdleAfter time.Duration
	// BufferSize is the size of the buffers reads borrow from the pool:
	// DefaultReadBuffer when 0.
	BufferSize int
	// OnIdle, when not nil, is called just before the connection is
	// parked, from the goroutine that calls handle: the moment to drop
	// buffers the protocol's parser keeps between reads. A connection its
	// Poller reads itself (PollerOptions.ReadInline) is never parked: for
	// it OnIdle is called after each read, and IdleAfter means nothing.
	OnIdle func()
}

// bufPools holds read buffers by size (sync.Pool of *[]byte).
var bufPools sync.Map

func bufPool(size int) *sync.Pool {
	if p, ok := bufPools.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := bufPools.LoadOrStore(size, &sync.Pool{New: func() any {
		b := make([]byte, size)
		return &b
	}})
	return p.(*sync.Pool)
}

// Conn is a net.Conn read by Serve: use it in place of the connection it
// wraps, for writing and closing too, so that a Close reaches a parked
// read. Its other methods are the wrapped connection's.
type Conn struct {
	net.Conn
	poller *Poller
	// raw is the socket under the connection (under TLS too), nil when
	// there is none: such a connection is never parked.
	raw syscall.RawConn

	// Set by Serve, read by the goroutine it starts and its successors.
	// rd reads the connection: its socket directly when it is a plain
	// one (SocketReader).
	rd     io.Reader
	handle func([]byte)
	end    func(error)
	opts   ReadOptions

	mu sync.Mutex
	// parked is set while the connection waits in the poller with no
	// goroutine; closed once Close was called.
	parked bool
	closed bool
	// inline is set while the poller reads the connection itself
	// (PollerOptions.ReadInline); reading is set while it is in a read
	// or the handler; ended once the end is reported or on its way (an
	// inline connection's end is reported by the poller or by Close,
	// whichever comes first).
	inline, reading, ended bool
	// token names the connection in the poller while parked; registered
	// is set once its socket is in the poller's epoll set. Both are
	// guarded by the poller's lock.
	token      int32
	registered bool
}

// Conn wraps nc for Serve. A nil Poller is one that never parks: Serve
// then reads in one goroutine for the connection's life, as a plain read
// loop does.
func (p *Poller) Conn(nc net.Conn) *Conn {
	c := &Conn{Conn: nc, poller: p}
	if p != nil {
		c.raw = socketOf(nc)
	}
	return c
}

// socketOf returns the socket under nc, looking through connections that
// wrap another (a *tls.Conn, or any with a NetConn method).
func socketOf(nc net.Conn) syscall.RawConn {
	for range 8 {
		switch c := nc.(type) {
		case syscall.Conn:
			raw, err := c.SyscallConn()
			if err != nil {
				return nil
			}
			return raw
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// NetConn returns the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// SyscallConn returns the wrapped connection's socket when it exposes one
// (a TCP connection does, TLS does not), so that a Writer over a Conn
// still writes straight to it.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// CountWritten passes on what a Writer wrote to the socket directly to
// the wrapped connection, when it counts its bytes (WriteCounter).
func (c *Conn) CountWritten(n int) {
	if wc, ok := c.Conn.(WriteCounter); ok {
		wc.CountWritten(n)
	}
}

// CountRead passes on what a SocketReader read from the socket directly to
// the wrapped connection, when it counts its bytes (ReadCounter).
func (c *Conn) CountRead(n int) {
	if rc, ok := c.Conn.(ReadCounter); ok {
		rc.CountRead(n)
	}
}

// Serve starts reading the connection: handle is called with each piece
// read, in order, from one goroutine at a time; the piece is in a buffer
// borrowed for the call, valid only until it returns. end is called once,
// with the error that ended reading (io.EOF when the client hung up,
// net.ErrClosed after Close), and nothing after it. Neither may call
// Serve; both may call Close. Do not set read deadlines on the
// connection meanwhile: Serve uses them to notice that it is idle.
func (c *Conn) Serve(handle func([]byte), end func(error), o ReadOptions) {
	if o.IdleAfter <= 0 {
		o.IdleAfter = DefaultIdleAfter
	}
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultReadBuffer
	}
	c.handle, c.end, c.opts = handle, end, o
	c.rd = SocketReader(c.Conn)
	if c.poller.serve(c) {
		return
	}
	go c.run()
}

// beginInlineRead is the poller's, before it reads the connection: false
// when its end is reported already (Close got there first).
func (c *Conn) beginInlineRead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return false
	}
	c.reading = true
	return true
}

// endInlineRead is the poller's, after a read and its handler: it says
// whether the poller is to report the end, and with what error (readErr,
// or net.ErrClosed when Close was called meanwhile and left the report to
// the poller, so that no handler runs after the end).
func (c *Conn) endInlineRead(readErr error) (error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reading = false
	switch {
	case c.ended:
		return nil, false
	case c.closed:
		c.ended = true
		return net.ErrClosed, true
	case readErr != nil:
		c.ended = true
		return readErr, true
	}
	return nil, false
}

// leavePoller goes back to reading in a goroutine, the poller that read
// the connection itself being closed (its goroutine has returned).
func (c *Conn) leavePoller() {
	c.mu.Lock()
	c.inline = false
	ended := c.ended
	c.mu.Unlock()
	if !ended {
		go c.run()
	}
}

// run reads while bytes come, and parks the connection once they stop.
// Its goroutine ends with the connection, or when it is parked.
func (c *Conn) run() {
	pool := bufPool(c.opts.BufferSize)
	buf := pool.Get().(*[]byte)
	canPark := c.raw != nil
	// active is set when bytes came since the deadline was set: the
	// deadline is then pushed back rather than set at every read.
	active := false
	if canPark {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.opts.IdleAfter))
	}
	for {
		n, err := c.rd.Read(*buf)
		if n > 0 {
			active = true
			c.handle((*buf)[:n])
		}
		if err == nil {
			continue
		}
		if canPark && errors.Is(err, os.ErrDeadlineExceeded) {
			if active {
				active = false
				_ = c.Conn.SetReadDeadline(time.Now().Add(c.opts.IdleAfter))
				continue
			}
			// A timeout proves the connection had nothing buffered that
			// a read could return without the socket (TLS included: it
			// was reading the socket for more of a record), so the
			// socket's readiness is what to wait for.
			pool.Put(buf)
			if c.opts.OnIdle != nil {
				c.opts.OnIdle()
			}
			if c.park() {
				return
			}
			// Closing, or the poller is gone: read on here, without a
			// deadline.
			buf = pool.Get().(*[]byte)
			canPark = false
			_ = c.Conn.SetReadDeadline(time.Time{})
			continue
		}
		pool.Put(buf)
		c.finish(err)
		return
	}
}

// park hands the connection to the poller; it reports whether it did.
func (c *Conn) park() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || !c.poller.add(c) {
		return false
	}
	c.parked = true
	return true
}

// wake is called by the poller when a parked connection has bytes (or has
// hung up): reading resumes in a new goroutine.
func (c *Conn) wake() {
	c.mu.Lock()
	if !c.parked {
		// Close got there first and ends the connection itself.
		c.mu.Unlock()
		return
	}
	c.parked = false
	c.mu.Unlock()
	go c.run()
}

// finish reports the end of reading.
func (c *Conn) finish(err error) {
	c.end(err)
}

// Close closes the connection. A parked connection has no goroutine to
// see it closed: it is taken out of the poller first, and its end is
// reported from a new goroutine (Close may be called under the caller's
// own locks, which end may take).
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	wasParked := c.parked
	c.parked = false
	inline := c.inline
	// An inline connection the poller is not reading now has its end
	// reported here; one it is reading, by the poller once its handler
	// returns (endInlineRead).
	report := wasParked || (inline && !c.ended && !c.reading)
	if inline && report {
		c.ended = true
	}
	c.mu.Unlock()
	if wasParked || inline {
		c.poller.remove(c)
	}
	err := c.Conn.Close()
	if report {
		go c.finish(net.ErrClosed)
	}
	return err
}

// Parked reports whether the connection is waiting in the poller with no
// goroutine (for tests and statistics).
func (c *Conn) Parked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parked
}
