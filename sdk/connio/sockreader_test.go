package connio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestSocketReaderReads shows a plain socket read directly: what the peer
// wrote, in order, across reads smaller than it, and io.EOF once the peer
// closed.
func TestSocketReaderReads(t *testing.T) {
	client, server := tcpPair(t)
	r := SocketReader(server)
	if _, ok := r.(*socketReader); !ok {
		t.Fatalf("SocketReader(TCP) = %T, want the direct reader", r)
	}
	want := bytes.Repeat([]byte("0123456789"), 100_000)
	go func() {
		_, _ = client.Write(want)
		client.Close()
	}()
	_ = server.SetReadDeadline(time.Now().Add(testTimeout))
	got, err := io.ReadAll(io.LimitReader(r, int64(len(want))+1))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d, same bytes", len(got), len(want))
	}
	if n, err := r.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("after the peer closed: %d, %v; want 0, io.EOF", n, err)
	}
}

// TestSocketReaderWaitsAndTimesOut shows a read with nothing there wait on
// the poller: for bytes that come later, and until the read deadline,
// which ends it with os.ErrDeadlineExceeded (connio.Conn parks on it).
func TestSocketReaderWaitsAndTimesOut(t *testing.T) {
	client, server := tcpPair(t)
	r := SocketReader(server)
	_ = server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := r.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	_ = server.SetReadDeadline(time.Now().Add(testTimeout))
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 8)
		n, err := r.Read(buf)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	if _, err := client.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "late" {
		t.Fatalf("read %q, want %q", s, "late")
	}
}

// TestSocketReaderClosed shows a read waiting on the poller end with
// net.ErrClosed when its connection is closed.
func TestSocketReaderClosed(t *testing.T) {
	_, server := tcpPair(t)
	r := SocketReader(server)
	_ = server.SetReadDeadline(time.Now().Add(testTimeout))
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 8))
		done <- err
	}()
	server.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read of a closed connection: %v, want net.ErrClosed", err)
	}
}

// TestSocketReaderNotASocket shows a connection without a socket of its
// own (a pipe here, TLS in use) read as it is.
func TestSocketReaderNotASocket(t *testing.T) {
	a, _ := pipePair(t)
	if r := SocketReader(a); r != io.Reader(a) {
		t.Fatalf("SocketReader(pipe) = %T, want the pipe itself", r)
	}
}
