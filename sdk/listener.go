package sdk

import (
	"errors"
	"net"
	"sync"
	"time"
)

// LimitOptions adjust LimitListener.
type LimitOptions struct {
	// Network returns the client network a connection from remote counts
	// under; "" leaves it uncounted. Nil counts every connection under
	// ClientNetwork(remote.String()). A plugin behind a reverse proxy it
	// trusts returns "" for the proxy's own address: every client behind
	// the proxy comes from there, and counting them as one address would
	// hold them all to one address's limit.
	Network func(remote net.Addr) string
	// Refused, when not nil, is called for each connection over the limit
	// (for a log line); it must not block.
	Refused func(remote net.Addr)
	// Tell, when above 0, lets a connection over the limit through
	// instead of closing it at once, so that the plugin can tell its
	// client why it is refused (MsgTooManyConnections) as it tells a
	// client NewSession refuses: at most Tell such connections at once
	// across all addresses, each closed TellWait after it was accepted
	// whatever it does meanwhile. Past Tell, one is closed at once. They
	// are not counted; Accept returns them like the others, and OverLimit
	// tells them apart. What they cost is bounded by Tell, whoever sends
	// them: an address's own connections stay bounded by the limit.
	Tell int
	// TellWait is how long a connection let through by Tell is kept:
	// DefaultTellWait when 0.
	TellWait time.Duration
}

// DefaultTellWait is LimitOptions.TellWait when it is not set: time
// enough for a client to send its request and read the refusal.
const DefaultTellWait = 3 * time.Second

// LimitListener returns ln with the connections it accepts counted in c,
// per client network, from accept until they are closed. A connection
// from a network that already holds c's limit is closed at once, before
// anything is read from it or written to it (no TLS handshake, no HTTP
// request), and Accept goes on to the next: the caller never sees it
// (but see LimitOptions.Tell).
//
// This bounds what one address can hold before a session exists, which
// NewSession's per-address limit cannot see: a TLS handshake that never
// ends, an HTTP connection that never sends its request or sits idle
// between requests. Make c with Portal.NewAddressCounter, so that the
// limit is the host's connections_per_ip and follows a reattaching host.
// Wrap the raw TCP listener, under tls.NewListener, so that a refused
// connection costs no handshake.
//
// Each accepted connection is counted out exactly once, at its first
// Close (a TLS or HTTP server, or the plugin, closes it); a connection
// the plugin never closes stays counted.
func LimitListener(ln net.Listener, c *AddressCounter, o LimitOptions) net.Listener {
	l := &limitListener{Listener: ln, c: c, network: o.Network, refused: o.Refused, tellWait: o.TellWait}
	if l.network == nil {
		l.network = func(remote net.Addr) string { return ClientNetwork(remote.String()) }
	}
	if o.Tell > 0 {
		l.telling = make(chan struct{}, o.Tell)
	}
	if l.tellWait <= 0 {
		l.tellWait = DefaultTellWait
	}
	return l
}

type limitListener struct {
	net.Listener
	c       *AddressCounter
	network func(net.Addr) string
	refused func(net.Addr)
	// telling holds a token for each connection over the limit let
	// through to be told so (nil: none is).
	telling  chan struct{}
	tellWait time.Duration
}

// Accept returns the next connection its network has room for, or one to
// be told it has none.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		n := l.network(nc.RemoteAddr())
		if l.c.Admit(n) {
			return &countedConn{Conn: nc, release: sync.OnceFunc(func() { l.c.Release(n) })}, nil
		}
		processFigures.refusedAddress.Add(1)
		if l.refused != nil {
			l.refused(nc.RemoteAddr())
		}
		select {
		case l.telling <- struct{}{}:
			return newToldConn(nc, l.tellWait, func() { <-l.telling }), nil
		default:
		}
		// Closed here, in the accept loop: a close of a fresh TCP
		// connection does not block.
		_ = nc.Close()
	}
}

// countedConn is an accepted connection that counts itself out of its
// listener's counter at its first Close.
type countedConn struct {
	net.Conn
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// CloseWrite half-closes the connection (net/http uses it to end a
// response cleanly before it closes).
func (c *countedConn) CloseWrite() error { return closeWrite(c.Conn) }

// toldConn is a connection over the limit, let through to be told so. It
// is closed tellWait after it was accepted, and gives its token back at
// its first Close.
type toldConn struct {
	net.Conn
	release func()
}

func newToldConn(nc net.Conn, wait time.Duration, release func()) *toldConn {
	c := &toldConn{Conn: nc, release: sync.OnceFunc(release)}
	// Not stopped at an earlier Close: a second Close does nothing, and
	// the timer holds the connection at most wait.
	time.AfterFunc(wait, func() { _ = c.Close() })
	return c
}

func (c *toldConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

func (c *toldConn) CloseWrite() error { return closeWrite(c.Conn) }

func closeWrite(nc net.Conn) error {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// OverLimit reports whether nc, as a LimitListener with LimitOptions.Tell
// returned it (or a connection over it, such as the *tls.Conn of
// tls.NewListener, or what http.Server.ConnContext is given), is over its
// network's limit: the plugin should tell its client why it is refused
// (MsgTooManyConnections) and close it.
func OverLimit(nc net.Conn) bool {
	for {
		switch c := nc.(type) {
		case *toldConn:
			return true
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return false
		}
	}
}
