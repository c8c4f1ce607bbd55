package connio

import (
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newInlinePoller makes a Poller that reads plain sockets itself, with
// batch as its Batch (nil: none).
func newInlinePoller(t *testing.T, batch func() func()) *Poller {
	t.Helper()
	p, err := NewPollerWith(PollerOptions{ReadInline: true, Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestInlineReadsWithoutGoroutines checks ReadInline's point: busy plain
// connections are read by the Poller itself, none with a goroutine of its
// own, each in order, from the first byte.
func TestInlineReadsWithoutGoroutines(t *testing.T) {
	parkingOnly(t)
	p := newInlinePoller(t, nil)
	const n = 50
	clients := make([]net.Conn, n)
	records := make([]*served, n)
	before := runtime.NumGoroutine()
	for i := range n {
		clients[i], _, records[i] = serveTCP(t, p, ReadOptions{IdleAfter: time.Hour})
	}
	if got := p.Len(); got != n {
		t.Fatalf("the poller holds %d connections, want %d", got, n)
	}
	for round, text := range []string{"look\r\n", "say hi\r\n", "quit\r\n"} {
		for _, c := range clients {
			if _, err := c.Write([]byte(text)); err != nil {
				t.Fatal(err)
			}
		}
		want := strings.Join([]string{"look\r\n", "say hi\r\n", "quit\r\n"}[:round+1], "")
		for _, r := range records {
			r.waitData(t, want)
		}
		// Reading busy connections started no goroutine per connection
		// (a few of the runtime's may come and go).
		if g := runtime.NumGoroutine(); g > before+n/10 {
			t.Fatalf("%d goroutines while the poller reads %d busy connections, %d before", g, n, before)
		}
	}
	noEnd(t, records...)
}

// TestInlineReadsWhatPassesTheBuffer checks that a connection holding
// more than one buffer's worth is read to the end, in order, over rounds.
func TestInlineReadsWhatPassesTheBuffer(t *testing.T) {
	parkingOnly(t)
	p := newInlinePoller(t, nil)
	client, _, r := serveTCP(t, p, ReadOptions{BufferSize: 16})
	want := strings.Repeat("0123456789abcdef-", 500)
	go func() { _, _ = client.Write([]byte(want)) }()
	r.waitData(t, want)
}

// TestInlineConnEnds checks the ways a connection the Poller reads ends,
// each reported once and never followed by a handler call: the client
// hangs up (io.EOF), the plugin closes it from another goroutine
// (net.ErrClosed), or from its own handler (reported once the handler
// returns).
func TestInlineConnEnds(t *testing.T) {
	parkingOnly(t)
	p := newInlinePoller(t, nil)

	client, _, r := serveTCP(t, p, ReadOptions{})
	client.Close()
	if err := r.waitEnd(t); !errors.Is(err, io.EOF) {
		t.Fatalf("hang-up: end(%v), want io.EOF", err)
	}

	_, c, r2 := serveTCP(t, p, ReadOptions{})
	c.Close()
	if err := r2.waitEnd(t); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("close: end(%v), want net.ErrClosed", err)
	}

	// Closed by its own handler: the end comes after the handler, once.
	client3, server3 := tcpConnPair(t)
	c3 := p.Conn(server3)
	var inHandle, afterEnd atomic.Bool
	ends := make(chan error, 2)
	c3.Serve(func(b []byte) {
		if afterEnd.Load() {
			t.Error("handler called after the end")
		}
		inHandle.Store(true)
		c3.Close()
		inHandle.Store(false)
	}, func(err error) {
		if inHandle.Load() {
			t.Error("end reported while the handler ran")
		}
		afterEnd.Store(true)
		ends <- err
	}, ReadOptions{})
	if _, err := client3.Write([]byte("quit\r\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ends:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("closed by its handler: end(%v), want net.ErrClosed", err)
		}
	case <-time.After(readWait):
		t.Fatal("closed by its handler: no end")
	}
	noEnd(t, r, r2)
	select {
	case err := <-ends:
		t.Fatalf("second end(%v)", err)
	default:
	}
	// Each has left the poller's set.
	deadline := time.Now().Add(readWait)
	for p.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the poller still holds %d connections", p.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestInlineRoundIsOneBatch checks that connections ready together are
// read in one round, inside one Batch: the point of Batch, a plugin's
// input reaching its host in one write. A round of one has no Batch.
func TestInlineRoundIsOneBatch(t *testing.T) {
	parkingOnly(t)
	const n = 8
	var (
		mu       sync.Mutex
		inBatch  bool
		count    int   // handler calls in the batch running
		perBatch []int // handler calls in each batch that had any
		outside  int   // handler calls outside a batch
	)
	batchEnded := make(chan struct{}, 64)
	p := newInlinePoller(t, func() func() {
		mu.Lock()
		inBatch, count = true, 0
		mu.Unlock()
		return func() {
			mu.Lock()
			inBatch = false
			if count > 0 {
				perBatch = append(perBatch, count)
				batchEnded <- struct{}{}
			}
			mu.Unlock()
		}
	})
	// The gate's handler holds the poller (a round of one) until every
	// other connection has bytes: the next round finds them all ready.
	gateClient, gateServer := tcpConnPair(t)
	holding, hold := make(chan struct{}), make(chan struct{})
	p.Conn(gateServer).Serve(func([]byte) { close(holding); <-hold }, func(error) {}, ReadOptions{})
	if _, err := gateClient.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	<-holding
	records := make([]*served, n)
	for i := range n {
		client, server := tcpConnPair(t)
		if _, err := client.Write([]byte("look\r\n")); err != nil {
			t.Fatal(err)
		}
		r := newServed()
		records[i] = r
		p.Conn(server).Serve(func(b []byte) {
			mu.Lock()
			if !inBatch {
				outside++
			}
			count++
			mu.Unlock()
			r.handle(b)
		}, r.end, ReadOptions{})
	}
	close(hold)
	for _, r := range records {
		r.waitData(t, "look\r\n")
	}
	// The data arrives inside a batch: wait for the batches that ran
	// handlers to have ended (the last may end just after its data came).
	for {
		mu.Lock()
		total := outside
		for _, c := range perBatch {
			total += c
		}
		mu.Unlock()
		if total >= n {
			break
		}
		wait(t, batchEnded, "the batch to end")
	}
	mu.Lock()
	defer mu.Unlock()
	if outside != 0 || len(perBatch) != 1 {
		t.Fatalf("%d connections ready together: %d handler calls outside a batch, read in batches of %v; want 0 and one batch", n, outside, perBatch)
	}
}
