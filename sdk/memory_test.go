package sdk

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeBurstClock drives a burstRelease: a settable clock, timers the test
// fires (fakeTimers, as the file limit's tests use) and a count of
// releases.
type fakeBurstClock struct {
	fakeTimers
	mu    sync.Mutex
	t     time.Time
	frees int
}

func newFakeBurstRelease() (*burstRelease, *fakeBurstClock) {
	c := &fakeBurstClock{t: time.Unix(1000, 0)}
	r := newBurstRelease()
	r.now = func() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
	r.afterFunc = c.afterFunc
	r.free = func() { c.mu.Lock(); c.frees++; c.mu.Unlock() }
	return r, c
}

func (c *fakeBurstClock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func (c *fakeBurstClock) freed() int { c.mu.Lock(); defer c.mu.Unlock(); return c.frees }

// TestBurstReleaseAfterQuiet checks when memory goes back to the OS: once
// a burst of sessions (burstEvents) has been followed by burstQuiet with
// none, not while they keep coming, not after a trickle, and never after
// close.
func TestBurstReleaseAfterQuiet(t *testing.T) {
	r, c := newFakeBurstRelease()
	for range burstEvents - 1 {
		r.note()
	}
	if c.fire() != 0 {
		t.Fatal("a check was set before the burst was a burst")
	}
	r.note()
	// The burst goes on a second into the wait: the check looks again.
	c.advance(time.Second)
	r.note()
	c.advance(burstQuiet - time.Second)
	if c.fire() != 1 || c.freed() != 0 {
		t.Fatalf("released %d times while the burst was under %v old", c.freed(), burstQuiet)
	}
	c.advance(time.Second)
	if c.fire() != 1 || c.freed() != 1 {
		t.Fatalf("released %d times %v after the burst, want once", c.freed(), burstQuiet)
	}
	if c.fire() != 0 {
		t.Fatal("a check is still pending after the release")
	}
	// A trickle afterwards is no burst.
	for range burstEvents / 2 {
		r.note()
		c.advance(time.Minute)
	}
	if c.fire() != 0 || c.freed() != 1 {
		t.Fatalf("a trickle of %d sessions released memory", burstEvents/2)
	}
	// Closed: nothing more.
	r.close()
	for range 2 * burstEvents {
		r.note()
	}
	c.advance(burstQuiet)
	c.fire()
	if c.freed() != 1 {
		t.Fatal("released after close")
	}
}

// TestBurstReleaseFromSessions checks that sessions opening and closing
// through the portal are what the release counts: a burst of connections
// that then close releases once, burstQuiet after the last of them.
func TestBurstReleaseFromSessions(t *testing.T) {
	p := NewTestPortal(slog.New(slog.DiscardHandler))
	r, c := newFakeBurstRelease()
	p.release = r
	var sessions []*Session
	for i := range burstEvents / 2 {
		s, err := p.NewSession(context.Background(), newFakeConn(), "telnet", fmt.Sprintf("192.0.2.%d:4000", i+1))
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	if c.fire() != 0 {
		t.Fatal("a check was set before the burst was a burst")
	}
	for _, s := range sessions {
		s.Disconnected("bye")
	}
	c.advance(burstQuiet)
	if c.fire() != 1 || c.freed() != 1 {
		t.Fatalf("%d sessions opened and closed: released %d times, want once", len(sessions), c.freed())
	}
}
