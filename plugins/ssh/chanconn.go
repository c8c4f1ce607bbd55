package main

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
)

// chanConn lets an SSH session channel stand where sdk/connio expects a
// net.Conn, so that output to SSH clients is queued and written the same
// way as the telnet plugin's: Send never blocks, and a client that stops
// reading is cut off once its backlog passes connio's bound.
//
// Two things differ from a socket. A channel has no write deadline, so one
// is made with a timer that closes the whole TCP connection (the only way
// to unblock a write waiting for the client's window). And closing a
// session means telling the client its exit status first: OpenSSH exits
// with 255, as for an error, when a channel closes without one.
type chanConn struct {
	s gliderssh.Session
	// kill closes the TCP connection under the channel.
	kill func()
	// exit is the exit status sent when the channel is closed.
	exit atomic.Int32
	// onClose runs once the channel is closed (connio closes it after the
	// last output is written).
	onClose func()

	mu       sync.Mutex
	deadline time.Time
	once     sync.Once
}

var _ net.Conn = (*chanConn)(nil)

// Read reads from the channel (connio never does).
func (c *chanConn) Read(b []byte) (int, error) { return c.s.Read(b) }

// Write writes to the channel, bounded by the write deadline.
func (c *chanConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	d := c.deadline
	c.mu.Unlock()
	if !d.IsZero() {
		t := time.AfterFunc(time.Until(d), c.kill)
		defer t.Stop()
	}
	return c.s.Write(b)
}

// Close sends the exit status and closes the channel.
func (c *chanConn) Close() error {
	c.once.Do(func() {
		if err := c.s.Exit(int(c.exit.Load())); err != nil {
			_ = c.s.Close()
		}
		if c.onClose != nil {
			c.onClose()
		}
	})
	return nil
}

// LocalAddr returns the server's address.
func (c *chanConn) LocalAddr() net.Addr { return c.s.LocalAddr() }

// RemoteAddr returns the client's address.
func (c *chanConn) RemoteAddr() net.Addr { return c.s.RemoteAddr() }

// SetDeadline sets the write deadline; reads have none.
func (c *chanConn) SetDeadline(t time.Time) error { return c.SetWriteDeadline(t) }

// SetReadDeadline does nothing: the session's reader ends when the
// channel or connection does.
func (c *chanConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline bounds later writes.
func (c *chanConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}
