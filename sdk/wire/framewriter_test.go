package wire

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
)

// socketPair returns the two ends of a unix stream socket pair whose
// buffers are about bufSize bytes (0: the system's), as *net.UnixConn,
// which expose their raw sockets as the data link's do.
func socketPair(t *testing.T, bufSize int) (a, b net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		if bufSize > 0 {
			_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, bufSize)
			_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, bufSize)
		}
		f := os.NewFile(uintptr(fd), fmt.Sprintf("pair%d", i))
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		t.Cleanup(func() { c.Close() })
	}
	return conns[0], conns[1]
}

// pingFrames appends ping frames carrying nonces, for order checks.
func ping(nonce uint64) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) { return AppendPing(b, nonce), nil }
}

// readNonces reads n ping frames from c and returns their nonces.
func readNonces(t *testing.T, r *FrameReader, n int) []uint64 {
	t.Helper()
	out := make([]uint64, 0, n)
	for len(out) < n {
		typ, body, err := r.Next()
		if err != nil {
			t.Fatalf("after %d frames: %v", len(out), err)
		}
		if typ != FramePing {
			t.Fatalf("frame %d: %v", len(out), typ)
		}
		nonce, err := ParseNonce(body)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, nonce)
	}
	return out
}

// TestFrameWriterKeepsEachWritersOrder: frames appended by many goroutines
// at once all arrive whole, each goroutine's in its order.
func TestFrameWriterKeepsEachWritersOrder(t *testing.T) {
	a, b := socketPair(t, 0)
	w := NewFrameWriter(a, WriterOptions{})
	const writers, each = 8, 2000
	got := make(chan []uint64, 1)
	go func() {
		_ = b.SetReadDeadline(time.Now().Add(testTimeout))
		got <- readNonces(t, NewFrameReader(b), writers*each)
	}()
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := w.Append(ping(uint64(g)<<32 | uint64(i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	next := make([]uint64, writers)
	for _, n := range <-got {
		g, i := n>>32, n&0xffffffff
		if i != next[g] {
			t.Fatalf("writer %d: frame %d arrived after %d", g, i, next[g])
		}
		next[g]++
	}
	if err := w.Stop(nil); err != nil {
		t.Fatal(err)
	}
}

// TestFrameWriterNeverBlocks: against a peer that reads nothing, Append
// returns at once every time, the backlog grows to its bound, and then
// the link fails with ErrLinkBacklog: OnError once, the connection closed,
// every later Append refused.
func TestFrameWriterNeverBlocks(t *testing.T) {
	a, _ := socketPair(t, 4096)
	failed := make(chan error, 2)
	w := NewFrameWriter(a, WriterOptions{MaxBacklog: 256 << 10, OnError: func(err error) { failed <- err }})
	frame := make([]byte, 1000)
	big := func(b []byte) ([]byte, error) {
		b = appendHeader(b, FramePing, len(frame))
		return append(b, frame...), nil
	}
	start := time.Now()
	var err error
	n := 0
	for ; n < 10_000; n++ {
		if err = w.Append(big); err != nil {
			break
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("%d appends to a peer that does not read took %v", n, took)
	}
	if !errors.Is(err, ErrLinkBacklog) {
		t.Fatalf("after %d frames: %v, want ErrLinkBacklog", n, err)
	}
	if n < 200 {
		t.Errorf("the link failed after only %d frames of 1 KiB under a bound of 256 KiB", n)
	}
	select {
	case err := <-failed:
		if !errors.Is(err, ErrLinkBacklog) {
			t.Fatalf("OnError got %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("OnError not called")
	}
	if err := w.Append(ping(1)); !errors.Is(err, ErrLinkBacklog) {
		t.Fatalf("Append after the failure: %v", err)
	}
	if _, err := a.Write([]byte{1}); err == nil {
		t.Fatal("the connection is still open after the link failed")
	}
	select {
	case err := <-failed:
		t.Fatalf("OnError called twice: %v", err)
	default:
	}
}

// TestFrameWriterBacklogDrains: what the socket did not take is written
// by the flusher once the peer reads, in order, and Stop writes its final
// frame after all of it.
func TestFrameWriterBacklogDrains(t *testing.T) {
	a, b := socketPair(t, 4096)
	w := NewFrameWriter(a, WriterOptions{})
	const n = 5000
	for i := range n {
		if err := w.Append(ping(uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if w.Backlog() == 0 {
		t.Fatal("no backlog against a 4 KiB socket that nobody reads: the test proves nothing")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(AppendPong(nil, 99)) }()
	_ = b.SetReadDeadline(time.Now().Add(testTimeout))
	r := NewFrameReader(b)
	for i, got := range readNonces(t, r, n) {
		if got != uint64(i) {
			t.Fatalf("frame %d carries %d", i, got)
		}
	}
	typ, body, err := r.Next()
	if err != nil || typ != FramePong {
		t.Fatalf("after the backlog: %v %v, want the final pong", typ, err)
	}
	if nonce, _ := ParseNonce(body); nonce != 99 {
		t.Fatalf("final frame nonce %d", nonce)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if err := w.Append(ping(1)); !errors.Is(err, ErrLinkStopped) {
		t.Fatalf("Append after Stop: %v, want ErrLinkStopped", err)
	}
}

// TestFrameWriterWriteTimeout: a backlog the peer leaves unread fails the
// link once a write makes no progress for WriteTimeout, well under the
// backlog's bound.
func TestFrameWriterWriteTimeout(t *testing.T) {
	a, _ := socketPair(t, 4096)
	failed := make(chan error, 1)
	w := NewFrameWriter(a, WriterOptions{WriteTimeout: 100 * time.Millisecond, OnError: func(err error) { failed <- err }})
	for i := range 2000 {
		if err := w.Append(ping(uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-failed:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("OnError got %v, want a timeout", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("a backlog nobody reads did not fail the link")
	}
	if err := w.Stop(nil); err == nil {
		t.Fatal("Stop after the failure reports no error")
	}
}

// TestFrameWriterTLS: a connection without a raw socket (TLS) is written
// by the flusher, in order.
func TestFrameWriterTLS(t *testing.T) {
	a, b := socketPair(t, 0)
	cert := selfSigned(t)
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	server := tls.Server(b, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	client := tls.Client(a, &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS13})
	w := NewFrameWriter(client, WriterOptions{})
	const n = 3000
	got := make(chan []uint64, 1)
	go func() {
		_ = server.SetReadDeadline(time.Now().Add(testTimeout))
		got <- readNonces(t, NewFrameReader(server), n)
	}()
	for i := range n {
		if err := w.Append(ping(uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i, nonce := range <-got {
		if nonce != uint64(i) {
			t.Fatalf("frame %d carries %d", i, nonce)
		}
	}
	if err := w.Stop(nil); err != nil {
		t.Fatal(err)
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// readEvents reads events frames from r until it has n events.
func readEvents(t *testing.T, r *FrameReader, n int) []*portalpb.Event {
	t.Helper()
	var out []*portalpb.Event
	for len(out) < n {
		typ, body, err := r.Next()
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		if typ != FrameEvents {
			t.Fatalf("a %v frame", typ)
		}
		evs, err := ParseEvents(body)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
	}
	return out
}

// TestOutboxAttach: events queued before a data link is attached go out
// on it first, those put while it is attached follow in order, and those
// put after Detach wait in the queue for the next link.
func TestOutboxAttach(t *testing.T) {
	o := NewOutbox(0)
	for _, e := range evs(0, 700) {
		if err := o.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	a, b := socketPair(t, 0)
	w := NewFrameWriter(a, WriterOptions{})
	if err := o.Attach(w); err != nil {
		t.Fatal(err)
	}
	if o.Len() != 0 {
		t.Fatalf("%d events still queued after Attach", o.Len())
	}
	for _, e := range evs(700, 1000) {
		if err := o.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	if o.Len() != 0 {
		t.Fatalf("%d events queued while a link is attached", o.Len())
	}
	_ = b.SetReadDeadline(time.Now().Add(testTimeout))
	for i, e := range readEvents(t, NewFrameReader(b), 1000) {
		if evID(e) != uint64(i) {
			t.Fatalf("event %d is %d", i, evID(e))
		}
	}
	if !o.Detach(w) {
		t.Fatal("Detach did not return the attached link")
	}
	if err := w.Stop(nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Put(ev(1000)); err != nil || o.Len() != 1 {
		t.Fatalf("after Detach: %v, %d queued", err, o.Len())
	}
}

// TestOutboxFailedLinkQueues: events that a failed link refuses are
// queued for the next one, not lost.
func TestOutboxFailedLinkQueues(t *testing.T) {
	o := NewOutbox(0)
	a, _ := socketPair(t, 0)
	w := NewFrameWriter(a, WriterOptions{})
	if err := o.Attach(w); err != nil {
		t.Fatal(err)
	}
	a.Close()
	for _, e := range evs(0, 3) {
		if err := o.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	if w.Err() == nil {
		t.Fatal("writing on a closed connection did not fail the link")
	}
	// The first event went to the socket that failed under it; the
	// others are queued.
	if o.Len() < 2 {
		t.Fatalf("%d events queued after the link failed", o.Len())
	}
}

// TestFrameWriterCork: frames appended while corked wait, and go out
// together, in order, at the last Uncork; Stop writes what a Cork held.
func TestFrameWriterCork(t *testing.T) {
	a, b := socketPair(t, 0)
	w := NewFrameWriter(a, WriterOptions{})
	w.Cork()
	w.Cork()
	for i := range 3 {
		if err := w.Append(ping(uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	w.Uncork()
	if got := w.Backlog(); got != 3*(frameHeader+8) {
		t.Fatalf("backlog %d bytes while still corked, want 3 frames held", got)
	}
	w.Uncork()
	_ = b.SetReadDeadline(time.Now().Add(testTimeout))
	r := NewFrameReader(b)
	for i, got := range readNonces(t, r, 3) {
		if got != uint64(i) {
			t.Fatalf("frame %d carries %d", i, got)
		}
	}
	w.Cork()
	if err := w.Append(ping(3)); err != nil {
		t.Fatal(err)
	}
	if err := w.Stop(AppendPong(nil, 4)); err != nil {
		t.Fatal(err)
	}
	if got := readNonces(t, r, 1); got[0] != 3 {
		t.Fatalf("after Stop: nonce %d, want the corked 3", got[0])
	}
	if typ, _, err := r.Next(); err != nil || typ != FramePong {
		t.Fatalf("then %v %v, want the final pong", typ, err)
	}
}

// TestOutboxCork: events put while the outbox is corked wait in the
// attached link's writer and go out, in order, when it is uncorked; a
// cork without a link does nothing, and events then queue as ever.
func TestOutboxCork(t *testing.T) {
	o := NewOutbox(0)
	o.Cork()() // no link: nothing to hold
	if err := o.Put(ev(0)); err != nil || o.Len() != 1 {
		t.Fatalf("without a link: %v, %d queued", err, o.Len())
	}
	a, b := socketPair(t, 0)
	w := NewFrameWriter(a, WriterOptions{})
	if err := o.Attach(w); err != nil {
		t.Fatal(err)
	}
	_ = b.SetReadDeadline(time.Now().Add(testTimeout))
	r := NewFrameReader(b)
	readEvents(t, r, 1)
	uncork := o.Cork()
	for _, e := range evs(1, 4) {
		if err := o.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	if w.Backlog() == 0 || o.Len() != 0 {
		t.Fatalf("while corked: %d bytes held by the link, %d queued; want the events held by the link", w.Backlog(), o.Len())
	}
	uncork()
	for i, e := range readEvents(t, r, 3) {
		if evID(e) != uint64(i+1) {
			t.Fatalf("event %d is %d", i+1, evID(e))
		}
	}
	if w.Backlog() != 0 {
		t.Fatalf("%d bytes still held after uncork", w.Backlog())
	}
}
