// Package conntest has the bare-connection helpers of tests that play
// several clients on one machine and watch whether a server keeps or
// closes their connections (per-address limits, idle and login
// timeouts). It imports nothing of the SDK, so that the SDK's own tests
// use it as the plugins' tests do.
package conntest

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"
)

// StillOpen is how long a connection expected open is watched (see
// ClosedWithin).
const StillOpen = 300 * time.Millisecond

// DialFrom opens a bare TCP connection to addr from the loopback address
// src (127.0.0.x are distinct client addresses on Linux), within timeout;
// it is closed when the test ends.
func DialFrom(t testing.TB, src, addr string, timeout time.Duration) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// ClosedWithin reports whether the server closed nc within d (a read
// ends) rather than keeping it open (the read waits until d has passed).
// A connection expected closed is given long (a loaded machine may be slow
// to accept it), one expected open a moment (StillOpen).
func ClosedWithin(nc net.Conn, d time.Duration) bool {
	_ = nc.SetReadDeadline(time.Now().Add(d))
	_, err := nc.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// FreeAddr returns a loopback address ("127.0.0.1:port") that nobody
// listens on right now, for a server the test starts next.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// FreePort is FreeAddr's port.
func FreePort(t testing.TB) int {
	t.Helper()
	_, p, err := net.SplitHostPort(FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
