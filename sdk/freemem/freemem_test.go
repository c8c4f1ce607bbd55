package freemem

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FakeClock is a Clock the test drives: a settable time, timers the test
// fires, and a count of releases.
type fakeClock struct {
	mu      sync.Mutex
	t       time.Time
	pending []func()
	frees   int
}

func newFake() (*Release, *fakeClock) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	return NewWithClock(c.Clock()), c
}

// Clock returns c as a Clock.
func (c *fakeClock) Clock() Clock {
	return Clock{
		Now: func() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t },
		AfterFunc: func(_ time.Duration, f func()) func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.pending = append(c.pending, f)
			return func() bool { return true }
		},
		Free: func() { c.mu.Lock(); c.frees++; c.mu.Unlock() },
	}
}

func (c *fakeClock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func (c *fakeClock) freed() int { c.mu.Lock(); defer c.mu.Unlock(); return c.frees }

// fire runs the timers set so far and reports how many there were.
func (c *fakeClock) fire() int {
	c.mu.Lock()
	fns := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
	return len(fns)
}

// TestReleaseAfterQuiet checks when memory goes back to the OS: once a
// burst of sessions (Events) has been followed by Quiet with none, not
// while they keep coming, not after a trickle, and never after Close.
func TestReleaseAfterQuiet(t *testing.T) {
	r, c := newFake()
	for range Events - 1 {
		r.Note()
	}
	if c.fire() != 0 {
		t.Fatal("a check was set before the burst was a burst")
	}
	r.Note()
	// The burst goes on a second into the wait: the check looks again.
	c.advance(time.Second)
	r.Note()
	c.advance(Quiet - time.Second)
	if c.fire() != 1 || c.freed() != 0 {
		t.Fatalf("released %d times while the burst was under %v old", c.freed(), Quiet)
	}
	c.advance(time.Second)
	if c.fire() != 1 || c.freed() != 1 {
		t.Fatalf("released %d times %v after the burst, want once", c.freed(), Quiet)
	}
	if c.fire() != 0 {
		t.Fatal("a check is still pending after the release")
	}
	// A trickle afterwards is no burst.
	for range Events / 2 {
		r.Note()
		c.advance(time.Minute)
	}
	if c.fire() != 0 || c.freed() != 1 {
		t.Fatalf("a trickle of %d sessions released memory", Events/2)
	}
	// Closed: nothing more.
	r.Close()
	for range 2 * Events {
		r.Note()
	}
	c.advance(Quiet)
	c.fire()
	if c.freed() != 1 {
		t.Fatal("released after close")
	}
	// A nil Release does nothing.
	var z *Release
	z.Note()
	z.Close()
}

// TestFreeDropsPooledObjects checks that a release frees what a sync.Pool
// held when it ran: a pool keeps its contents through one collection (its
// victim cache), so one collection left a burst's pooled buffers resident.
func TestFreeDropsPooledObjects(t *testing.T) {
	pool := sync.Pool{}
	const n = 64
	var freed atomic.Int32
	for range n {
		b := make([]byte, 2048)
		runtime.AddCleanup(&b[0], func(*atomic.Int32) { freed.Add(1) }, &freed)
		pool.Put(&b)
	}
	Free()
	// Cleanups run on a goroutine of their own after the collection.
	deadline := time.Now().Add(5 * time.Second)
	for freed.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pooled buffers freed by Free, want all", freed.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.KeepAlive(&pool)
}
