package sdk

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/freemem"
)

// newFakeBurstRelease returns a freemem.Release on a clock the test drives
// with the file limit's fakeTimers.
func newFakeBurstRelease() (*freemem.Release, *fakeBurstClock) {
	c := &fakeBurstClock{t: time.Unix(1000, 0)}
	r := freemem.NewWithClock(freemem.Clock{
		Now:       func() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t },
		AfterFunc: c.afterFunc,
		Free:      func() { c.mu.Lock(); c.frees++; c.mu.Unlock() },
	})
	return r, c
}

// fakeBurstClock is the clock of newFakeBurstRelease.
type fakeBurstClock struct {
	fakeTimers
	mu    sync.Mutex
	t     time.Time
	frees int
}

func (c *fakeBurstClock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func (c *fakeBurstClock) freed() int { c.mu.Lock(); defer c.mu.Unlock(); return c.frees }

// TestBurstReleaseFromSessions checks that sessions opening and closing
// through the portal are what the release counts: a burst of connections
// that then close releases once, freemem.Quiet after the last of them.
func TestBurstReleaseFromSessions(t *testing.T) {
	p := NewTestPortal(slog.New(slog.DiscardHandler))
	r, c := newFakeBurstRelease()
	p.release = r
	var sessions []*Session
	for i := range freemem.Events / 2 {
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
	c.advance(freemem.Quiet)
	if c.fire() != 1 || c.freed() != 1 {
		t.Fatalf("%d sessions opened and closed: released %d times, want once", len(sessions), c.freed())
	}
}
