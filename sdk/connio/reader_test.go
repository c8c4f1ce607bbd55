package connio

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// readWait bounds every wait in these tests.
const readWait = 5 * time.Second

// testIdle is the tests' IdleAfter: short, so that they park quickly.
const testIdle = 20 * time.Millisecond

// served records what Serve reports for one connection.
type served struct {
	mu   sync.Mutex
	data bytes.Buffer
	got  chan struct{} // a token per handle call
	ends chan error
}

func newServed() *served {
	return &served{got: make(chan struct{}, 1024), ends: make(chan error, 2)}
}

func (s *served) handle(b []byte) {
	s.mu.Lock()
	s.data.Write(b)
	s.mu.Unlock()
	s.got <- struct{}{}
}

func (s *served) end(err error) { s.ends <- err }

// waitData waits until the connection has read want in all.
func (s *served) waitData(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(readWait)
	for {
		s.mu.Lock()
		got := s.data.String()
		s.mu.Unlock()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %q, want %q", got, want)
		}
		select {
		case <-s.got:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (s *served) waitEnd(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.ends:
		return err
	case <-time.After(readWait):
		t.Fatal("reading did not end")
		return nil
	}
}

func tcpConnPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-acc
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// tlsConnPair returns both ends of a TCP pair after a TLS handshake.
func tlsConnPair(t *testing.T) (client, server *tls.Conn) {
	t.Helper()
	rawClient, rawServer := tcpConnPair(t)
	server = tls.Server(rawServer, &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}})
	client = tls.Client(rawClient, &tls.Config{InsecureSkipVerify: true})
	hs := make(chan error, 1)
	go func() { hs <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-hs; err != nil {
		t.Fatal(err)
	}
	return client, server
}

func newTestPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// parkingOnly skips a test where connections are never parked.
func parkingOnly(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("connections are parked on Linux only")
	}
}

// serveTCP serves the server end of a new TCP pair through p and returns
// the client end, the Conn and what it reports.
func serveTCP(t *testing.T, p *Poller, o ReadOptions) (net.Conn, *Conn, *served) {
	t.Helper()
	client, server := tcpConnPair(t)
	r := newServed()
	c := p.Conn(server)
	c.Serve(r.handle, r.end, o)
	return client, c, r
}

// noEnd fails if any of rs has reported an end (again).
func noEnd(t *testing.T, rs ...*served) {
	t.Helper()
	for _, r := range rs {
		select {
		case err := <-r.ends:
			t.Fatalf("end reported when it should not be (%v)", err)
		default:
		}
	}
}

// waitParked waits until n connections are parked in p.
func waitParked(t *testing.T, p *Poller, n int) {
	t.Helper()
	deadline := time.Now().Add(readWait)
	for p.Len() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections parked, want %d", p.Len(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestIdleConnectionsHoldNoGoroutine checks the point of Conn: quiet
// connections are parked and their goroutines (with their stacks and read
// buffers) are gone; bytes arriving wake each one, in order, and it parks
// again when they stop.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	parkingOnly(t)
	p := newTestPoller(t)
	const n = 50
	clients := make([]net.Conn, n)
	records := make([]*served, n)
	before := runtime.NumGoroutine()
	for i := range n {
		clients[i], _, records[i] = serveTCP(t, p, ReadOptions{IdleAfter: testIdle})
	}
	waitParked(t, p, n)
	// Every reader has gone (a few runtime goroutines may come and go).
	deadline := time.Now().Add(readWait)
	for runtime.NumGoroutine() > before+n/10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines with %d parked connections, %d before they were served",
				runtime.NumGoroutine(), n, before)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for round, text := range []string{"look\r\n", "say hi\r\n"} {
		for i, c := range clients {
			if _, err := c.Write([]byte(text)); err != nil {
				t.Fatal(err)
			}
			want := "look\r\n"
			if round == 1 {
				want += text
			}
			records[i].waitData(t, want)
		}
		waitParked(t, p, n)
	}
	noEnd(t, records...)
}

// TestParkedConnEnds checks both ways a parked connection ends: the
// client hangs up (io.EOF), or the plugin closes it (net.ErrClosed,
// reported although no goroutine was reading). Each is reported once.
func TestParkedConnEnds(t *testing.T) {
	parkingOnly(t)
	p := newTestPoller(t)
	client, _, hungUp := serveTCP(t, p, ReadOptions{IdleAfter: testIdle})
	_, c2, closed := serveTCP(t, p, ReadOptions{IdleAfter: testIdle})
	waitParked(t, p, 2)

	client.Close()
	if err := hungUp.waitEnd(t); !errors.Is(err, io.EOF) {
		t.Fatalf("client hung up: end(%v), want io.EOF", err)
	}
	if !c2.Parked() {
		t.Fatal("the other connection is no longer parked")
	}
	if err := c2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closed.waitEnd(t); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("closed while parked: end(%v), want net.ErrClosed", err)
	}
	waitParked(t, p, 0)
	time.Sleep(50 * time.Millisecond)
	noEnd(t, hungUp, closed) // not twice
}

// TestPollerCloseWakesParked checks that closing the poller hands its
// connections back to a goroutine each, those parked and those it read
// itself (ReadInline): they go on reading, and end as before.
func TestPollerCloseWakesParked(t *testing.T) {
	parkingOnly(t)
	for _, inline := range []bool{false, true} {
		p, err := NewPollerWith(PollerOptions{ReadInline: inline})
		if err != nil {
			t.Fatal(err)
		}
		client, _, r := serveTCP(t, p, ReadOptions{IdleAfter: testIdle})
		waitParked(t, p, 1)
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Write([]byte("still here\n")); err != nil {
			t.Fatal(err)
		}
		r.waitData(t, "still here\n")
		client.Close()
		if err := r.waitEnd(t); !errors.Is(err, io.EOF) {
			t.Fatalf("inline %v: end(%v), want io.EOF", inline, err)
		}
		noEnd(t, r)
	}
}

// TestParkedTLS checks that a TLS connection parks (its socket is found
// under the *tls.Conn) and resumes with its record state intact; a poller
// that reads plain sockets itself (ReadInline) parks it all the same,
// since its bytes are records, not the client's.
func TestParkedTLS(t *testing.T) {
	parkingOnly(t)
	for _, inline := range []bool{false, true} {
		p, err := NewPollerWith(PollerOptions{ReadInline: inline})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		cliTLS, srvTLS := tlsConnPair(t)
		r := newServed()
		c := p.Conn(srvTLS)
		c.Serve(r.handle, r.end, ReadOptions{IdleAfter: testIdle})
		want := ""
		for _, text := range []string{"one\n", "two\n", "three\n"} {
			waitParked(t, p, 1)
			if !c.Parked() {
				t.Fatalf("inline %v: held by the poller but not parked", inline)
			}
			if _, err := cliTLS.Write([]byte(text)); err != nil {
				t.Fatal(err)
			}
			want += text
			r.waitData(t, want)
		}
		cliTLS.Close()
		if err := r.waitEnd(t); err == nil {
			t.Fatal("end(nil)")
		}
	}
}

// TestNilPollerReadsInOneGoroutine checks the fallback: without a poller
// (or a socket: a pipe), the connection is read by one goroutine for its
// life, and never parked.
func TestNilPollerReadsInOneGoroutine(t *testing.T) {
	var p *Poller
	client, server := net.Pipe()
	r := newServed()
	c := p.Conn(server)
	c.Serve(r.handle, r.end, ReadOptions{IdleAfter: testIdle})
	time.Sleep(5 * testIdle)
	if c.Parked() {
		t.Fatal("parked without a poller")
	}
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	r.waitData(t, "hello")
	c.Close()
	if err := r.waitEnd(t); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("end(%v), want io.ErrClosedPipe", err)
	}
}

// TestConnKeepsWriterFastPath checks that a Writer over a Conn still finds
// the socket (SyscallConn), so that output is written inline.
func TestConnKeepsWriterFastPath(t *testing.T) {
	_, server := tcpConnPair(t)
	p := newTestPoller(t)
	w := NewWriter(p.Conn(server), Options{})
	if w.raw == nil {
		t.Fatal("a Writer over a Conn lost the socket")
	}
	w.Close(nil)
	<-w.Done()
}

// selfSigned returns a throwaway certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestOnIdleBeforePark checks that OnIdle runs as the connection parks,
// on the reading goroutine (never alongside handle), once per rest.
func TestOnIdleBeforePark(t *testing.T) {
	parkingOnly(t)
	p := newTestPoller(t)
	client, server := tcpConnPair(t)
	r := newServed()
	var mu sync.Mutex
	inHandle, rests := false, 0
	handle := func(b []byte) {
		mu.Lock()
		inHandle = true
		mu.Unlock()
		r.handle(b)
		mu.Lock()
		inHandle = false
		mu.Unlock()
	}
	onIdle := func() {
		mu.Lock()
		defer mu.Unlock()
		if inHandle {
			t.Error("OnIdle ran during handle")
		}
		rests++
	}
	p.Conn(server).Serve(handle, r.end, ReadOptions{IdleAfter: testIdle, OnIdle: onIdle})
	waitParked(t, p, 1)
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	r.waitData(t, "x")
	waitParked(t, p, 1)
	mu.Lock()
	defer mu.Unlock()
	if rests != 2 {
		t.Fatalf("OnIdle ran %d times for 2 rests", rests)
	}
}
