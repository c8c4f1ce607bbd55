package connio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 10 * time.Second

// tcpPair returns both ends of a real loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// pipePair returns both ends of a net.Pipe (no buffering: a write blocks
// until the peer reads).
func pipePair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	a, b = net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// readAll reads peer until EOF in the background.
func readAll(t *testing.T, peer net.Conn) <-chan []byte {
	t.Helper()
	out := make(chan []byte, 1)
	go func() {
		_ = peer.SetReadDeadline(time.Now().Add(testTimeout))
		b, err := io.ReadAll(peer)
		if err != nil {
			t.Errorf("peer read: %v", err)
		}
		out <- b
	}()
	return out
}

func wait[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// errRecorder collects OnError calls.
type errRecorder struct {
	mu   sync.Mutex
	errs []error
	ch   chan error
}

func newErrRecorder() *errRecorder { return &errRecorder{ch: make(chan error, 16)} }

func (r *errRecorder) onError(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	r.ch <- err
}

// once waits for the first OnError and checks that no second one follows
// within a short grace period (nothing signals "no more calls").
func (r *errRecorder) once(t *testing.T) error {
	t.Helper()
	err := wait(t, r.ch, "OnError")
	select {
	case err2 := <-r.ch:
		t.Errorf("OnError called again with %v (first: %v)", err2, err)
	case <-time.After(100 * time.Millisecond):
	}
	return err
}

func TestWriterOrderAndClose(t *testing.T) {
	for name, pair := range map[string]func(*testing.T) (net.Conn, net.Conn){"tcp": tcpPair, "pipe": pipePair} {
		t.Run(name, func(t *testing.T) {
			c, peer := pair(t)
			rec := newErrRecorder()
			w := NewWriter(c, Options{OnError: rec.onError})
			got := readAll(t, peer)
			var want bytes.Buffer
			for i := range 2000 {
				line := fmt.Appendf(nil, "line %d\r\n", i)
				want.Write(line)
				if err := w.Write(line); err != nil {
					t.Fatalf("Write %d: %v", i, err)
				}
			}
			if err := w.Write(nil); err != nil {
				t.Fatalf("empty Write: %v", err)
			}
			w.Close([]byte("Goodbye!\r\n"))
			want.WriteString("Goodbye!\r\n")
			wait(t, w.Done(), "Done")
			if b := wait(t, got, "peer EOF"); !bytes.Equal(b, want.Bytes()) {
				t.Errorf("peer read %d bytes, want %d in order ending with the final message", len(b), want.Len())
			}
			if err := w.Write([]byte("late")); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Close = %v, want ErrClosed", err)
			}
			w.Close([]byte("again")) // no effect, no panic
			select {
			case err := <-rec.ch:
				t.Errorf("OnError(%v) on a clean close", err)
			default:
			}
		})
	}
}

func TestWriterCloseWithNothingQueued(t *testing.T) {
	c, peer := tcpPair(t)
	w := NewWriter(c, Options{})
	got := readAll(t, peer)
	w.Close(nil)
	wait(t, w.Done(), "Done")
	if b := wait(t, got, "peer EOF"); len(b) != 0 {
		t.Errorf("peer read %q, want nothing", b)
	}
	if err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
}

func TestWriterWriteAfterCloseBeforeFlush(t *testing.T) {
	// The peer does not read yet: Close is pending behind queued output.
	c, peer := pipePair(t)
	w := NewWriter(c, Options{})
	if err := w.Write([]byte("queued")); err != nil {
		t.Fatal(err)
	}
	w.Close([]byte(" final"))
	if err := w.Write([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write while closing = %v, want ErrClosed", err)
	}
	select {
	case <-w.Done():
		t.Fatal("Done before the queued output was written")
	default:
	}
	if b := wait(t, readAll(t, peer), "peer EOF"); string(b) != "queued final" {
		t.Errorf("peer read %q", b)
	}
	wait(t, w.Done(), "Done")
}

func TestWriterConcurrentWritersKeepTheirOrder(t *testing.T) {
	c, peer := tcpPair(t)
	w := NewWriter(c, Options{})
	got := readAll(t, peer)
	const writers, each = 4, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := w.Write(fmt.Appendf(nil, "%d:%d\n", g, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	w.Close(nil)
	b := wait(t, got, "peer EOF")
	next := make([]int, writers)
	for _, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		var g, i int
		if _, err := fmt.Sscanf(string(line), "%d:%d", &g, &i); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d arrived where %d was due", g, i, next[g])
		}
		next[g]++
	}
	for g, n := range next {
		if n != each {
			t.Errorf("writer %d: %d lines arrived, want %d", g, n, each)
		}
	}
}

func TestWriterBacklogOverflow(t *testing.T) {
	// The peer never reads: the first write blocks in the pipe and later
	// ones pile up until they pass MaxBacklog.
	c, peer := pipePair(t)
	rec := newErrRecorder()
	w := NewWriter(c, Options{MaxBacklog: 1024, WriteTimeout: testTimeout, OnError: rec.onError})
	chunk := bytes.Repeat([]byte("x"), 256)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = w.Write(chunk)
	}
	if !errors.Is(err, ErrBacklog) {
		t.Fatalf("Write past the backlog = %v, want ErrBacklog", err)
	}
	wait(t, w.Done(), "Done")
	if got := rec.once(t); !errors.Is(got, ErrBacklog) {
		t.Errorf("OnError(%v), want ErrBacklog", got)
	}
	if err := w.Write(chunk); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after overflow = %v, want ErrClosed", err)
	}
	// The connection is closed: the peer's read ends.
	_ = peer.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 4096)
	for {
		if _, err := peer.Read(buf); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Errorf("peer read: %v, want EOF", err)
			}
			break
		}
	}
}

func TestWriterOneWriteOverBacklog(t *testing.T) {
	c, _ := tcpPair(t)
	rec := newErrRecorder()
	w := NewWriter(c, Options{MaxBacklog: 100, WriteTimeout: time.Second, OnError: rec.onError})
	if err := w.Write(make([]byte, 101)); !errors.Is(err, ErrBacklog) {
		t.Fatalf("Write = %v, want ErrBacklog", err)
	}
	wait(t, w.Done(), "Done")
	if got := rec.once(t); !errors.Is(got, ErrBacklog) {
		t.Errorf("OnError(%v), want ErrBacklog", got)
	}
	w.Close([]byte("bye")) // no effect after a failure
}

func TestWriterBacklogWithoutOnError(t *testing.T) {
	c, _ := pipePair(t)
	w := NewWriter(c, Options{MaxBacklog: 10, WriteTimeout: time.Second})
	if err := w.Write(make([]byte, 11)); !errors.Is(err, ErrBacklog) {
		t.Fatalf("Write = %v, want ErrBacklog", err)
	}
	wait(t, w.Done(), "Done")
}

func TestWriterWriteError(t *testing.T) {
	c, peer := pipePair(t)
	peer.Close() // the client went away
	rec := newErrRecorder()
	w := NewWriter(c, Options{OnError: rec.onError})
	if err := w.Write([]byte("hello")); err != nil {
		t.Fatalf("Write only queues: %v", err)
	}
	if got := rec.once(t); !errors.Is(got, io.ErrClosedPipe) {
		t.Errorf("OnError(%v), want the write's error", got)
	}
	wait(t, w.Done(), "Done")
	if err := w.Write([]byte("more")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after a write error = %v, want ErrClosed", err)
	}
	w.Close(nil)
	select {
	case err := <-rec.ch:
		t.Errorf("OnError(%v) again after Close", err)
	default:
	}
}

func TestWriterWriteTimeout(t *testing.T) {
	c, _ := pipePair(t) // the peer never reads
	rec := newErrRecorder()
	w := NewWriter(c, Options{WriteTimeout: 20 * time.Millisecond, OnError: rec.onError})
	if err := w.Write([]byte("stuck")); err != nil {
		t.Fatal(err)
	}
	if got := rec.once(t); !errors.Is(got, os.ErrDeadlineExceeded) {
		t.Errorf("OnError(%v), want a deadline error", got)
	}
	wait(t, w.Done(), "Done")
}

// TestWriterIsOneAllocation keeps a Writer to one allocation: its Done
// channel is made only when asked for, since thousands of idle
// connections would each keep one they never read (issue 16).
func TestWriterIsOneAllocation(t *testing.T) {
	c, _ := pipePair(t)
	if n := testing.AllocsPerRun(100, func() { _ = NewWriter(c, Options{}) }); n != 1 {
		t.Errorf("NewWriter makes %v allocations, want 1 (the Writer)", n)
	}
}

// TestWriterDoneAskedAfterClose checks that a Done first asked for after
// the connection was closed is already closed, and one asked for before
// is closed by the close.
func TestWriterDoneAskedAfterClose(t *testing.T) {
	c, peer := tcpPair(t)
	w := NewWriter(c, Options{})
	got := readAll(t, peer)
	before := w.Done()
	w.Close(nil)
	wait(t, before, "Done asked for before Close")
	wait(t, got, "peer EOF")
	wait(t, w.Done(), "Done asked for after the close")
	if w.Done() != before {
		t.Error("Done returned a different channel after the close")
	}

	c2, peer2 := tcpPair(t)
	w2 := NewWriter(c2, Options{})
	got2 := readAll(t, peer2)
	w2.Close(nil)
	wait(t, got2, "peer EOF")
	wait(t, w2.Done(), "Done first asked for after the close")
}

// TestWriterWriteAllocatesNothing: a write the socket takes at once costs
// no allocation (a broadcast makes one per client), and every byte arrives.
func TestWriterWriteAllocatesNothing(t *testing.T) {
	client, server := tcpPair(t)
	defer client.Close()
	w := NewWriter(server, Options{})
	defer w.Close(nil)
	line := []byte("Server restart initiated ...\r\n")
	if err := w.Write(line); err != nil { // warm
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(100, func() {
		if err := w.Write(line); err != nil {
			t.Error(err)
		}
	})
	if n != 0 {
		t.Errorf("a write the socket takes: %.1f allocations, want 0", n)
	}
	want := bytes.Repeat(line, 102)
	got := make([]byte, len(want))
	_ = client.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the client read other bytes than were written")
	}
}

// TestTryWriteShortAndError: TryWrite reports what the kernel took and a
// write error, as it did before its state was pooled.
func TestTryWriteShortAndError(t *testing.T) {
	client, server := tcpPair(t)
	raw, err := server.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := server.(*net.TCPConn).SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 16<<20)
	n, err := TryWrite(raw, big)
	if err != nil || n <= 0 || n >= len(big) {
		t.Fatalf("TryWrite into a socket nobody reads = %d, %v; want part of %d, no error", n, err, len(big))
	}
	client.Close()
	// The peer has gone: writes fail (EPIPE or ECONNRESET) once the
	// kernel has seen the reset.
	deadline := time.Now().Add(testTimeout)
	for {
		_, err = TryWrite(raw, []byte("x"))
		if err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err == nil {
		t.Error("TryWrite after the peer closed: no error")
	}
	server.Close()
}
