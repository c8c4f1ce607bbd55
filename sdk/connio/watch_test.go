package connio

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"
)

// readN reads exactly n bytes from c within the test timeout.
func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(testTimeout))
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return string(b)
}

// TestWatchHangUp: a client that hangs up ends the context, with cause
// ErrHungUp, and what it sent first is kept.
func TestWatchHangUp(t *testing.T) {
	client, server := tcpPair(t)
	defer server.Close()
	w := Watch(context.Background(), server, 100)
	if _, err := client.Write([]byte("look\r\n")); err != nil {
		t.Fatal(err)
	}
	client.Close()
	select {
	case <-w.Context().Done():
	case <-time.After(testTimeout):
		t.Fatal("the context did not end when the client hung up")
	}
	if cause := context.Cause(w.Context()); !errors.Is(cause, ErrHungUp) || !errors.Is(cause, io.EOF) {
		t.Fatalf("cause %v, want ErrHungUp wrapping EOF", cause)
	}
	got, err := w.Stop()
	if string(got) != "look\r\n" || !errors.Is(err, io.EOF) {
		t.Fatalf("Stop = %q, %v; want what was sent and EOF", got, err)
	}
}

// testStopKeepsConn: Stop while the client is there returns what was read
// and leaves the rest, and the connection, to the caller.
func testStopKeepsConn(t *testing.T, client, server net.Conn) {
	t.Helper()
	// A watch stopped while its read is blocked (nothing sent yet: the
	// usual case, a client let in at once) leaves the connection usable.
	idle := Watch(context.Background(), server, 4)
	time.Sleep(20 * time.Millisecond) // no signal says a read is blocked; let it block
	if got, err := idle.Stop(); len(got) != 0 || err != nil {
		t.Fatalf("Stop of an idle watch = %q, %v", got, err)
	}
	w := Watch(context.Background(), server, 4)
	if _, err := client.Write([]byte("abcdefgh")); err != nil {
		t.Fatal(err)
	}
	got, err := w.Stop()
	if err != nil {
		t.Fatalf("Stop: %v, want no error with the client still there", err)
	}
	if len(got) > 4 {
		t.Fatalf("read %q past the limit of 4", got)
	}
	if all := string(got) + readN(t, server, 8-len(got)); all != "abcdefgh" {
		t.Fatalf("watched and read afterwards: %q, want %q", all, "abcdefgh")
	}
	if cause := context.Cause(w.Context()); errors.Is(cause, ErrHungUp) {
		t.Fatalf("context ended as a hang-up: %v", cause)
	}
	// No deadline is left behind: a read after a pause still works.
	time.Sleep(20 * time.Millisecond)
	if _, err := client.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, server, 4); got != "more" {
		t.Fatalf("read after Stop: %q", got)
	}
}

func TestWatchStopKeepsConn(t *testing.T) {
	client, server := tcpPair(t)
	defer client.Close()
	defer server.Close()
	testStopKeepsConn(t, client, server)
}

// TestWatchStopKeepsTLSConn: interrupting a TLS read with a deadline does
// not break the TLS connection (the telnet plugin's TLS listener).
func TestWatchStopKeepsTLSConn(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	rawClient, rawServer := tcpPair(t)
	server := tls.Server(rawServer, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	client := tls.Client(rawClient, &tls.Config{InsecureSkipVerify: true})
	defer client.Close()
	defer server.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- client.HandshakeContext(ctx) }()
	if err := server.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	testStopKeepsConn(t, client, server)
}

// TestWatchStopBeforeAnything: Stop at once, with nothing sent, is clean.
func TestWatchStopBeforeAnything(t *testing.T) {
	client, server := tcpPair(t)
	defer client.Close()
	defer server.Close()
	got, err := Watch(context.Background(), server, 16).Stop()
	if len(got) != 0 || err != nil {
		t.Fatalf("Stop = %q, %v", got, err)
	}
}
