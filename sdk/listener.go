package sdk

import (
	"errors"
	"net"
	"sync"
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
	// Refused, when not nil, is called for each connection closed for
	// being over the limit (for a log line); it must not block.
	Refused func(remote net.Addr)
}

// LimitListener returns ln with the connections it accepts counted in c,
// per client network, from accept until they are closed. A connection
// from a network that already holds c's limit is closed at once, before
// anything is read from it or written to it (no TLS handshake, no HTTP
// request), and Accept goes on to the next: the caller never sees it.
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
	network := o.Network
	if network == nil {
		network = func(remote net.Addr) string { return ClientNetwork(remote.String()) }
	}
	return &limitListener{Listener: ln, c: c, network: network, refused: o.Refused}
}

type limitListener struct {
	net.Listener
	c       *AddressCounter
	network func(net.Addr) string
	refused func(net.Addr)
}

// Accept returns the next connection its network has room for.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		n := l.network(nc.RemoteAddr())
		if !l.c.Admit(n) {
			// Closed here, in the accept loop: a close of a fresh TCP
			// connection does not block.
			_ = nc.Close()
			if l.refused != nil {
				l.refused(nc.RemoteAddr())
			}
			continue
		}
		return &countedConn{Conn: nc, release: sync.OnceFunc(func() { l.c.Release(n) })}, nil
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

// CloseWrite half-closes the connection when the connection below can
// (net/http uses it to end a response cleanly before it closes).
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
