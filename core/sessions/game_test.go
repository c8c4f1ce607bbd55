package sessions

import (
	"strings"
	"testing"
	"time"
)

// TestDisconnectHook: the hook runs once for every way a session ends,
// after the session has left the handler, and a panic in it is logged, not
// fatal.
func TestDisconnectHook(t *testing.T) {
	x := newHarness(t)
	type ended struct {
		sessid uint64
		reason string
		gone   bool
	}
	var got []ended
	x.h.SetDisconnectHook(func(s *ServerSession, reason string) {
		got = append(got, ended{s.Sessid, reason, x.h.SessionFromSessid(s.Sessid) == nil})
		if reason == "boom" {
			panic("broken hook")
		}
	})
	a := x.connect("telnet", 1)
	x.connect("telnet", 2)
	x.connect("ssh", 3)
	x.connect("ssh", 4)
	x.h.Disconnect(a, "quit", true)
	x.h.PortalDisconnect("telnet", 2, "client gone")
	x.h.PortalDisconnectAll("ssh", "plugin died")
	x.connect("telnet", 5)
	x.h.PortalDisconnect("telnet", 5, "boom")
	want := []ended{{1, "quit", true}, {2, "client gone", true}, {3, "plugin died", true}, {4, "plugin died", true}, {5, "boom", true}}
	if len(got) != len(want) {
		t.Fatalf("hook ran %d times: %+v, want %+v", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("run %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if !strings.Contains(x.log.String(), "broken hook") {
		t.Errorf("the panic was not logged:\n%s", x.log.String())
	}
	// A session that is already gone does not end twice.
	x.h.Disconnect(a, "again", true)
	if len(got) != len(want) {
		t.Fatalf("the hook ran for a session already gone: %+v", got)
	}
}

// TestTimers: After runs once, Every until stopped, both on the loop (the
// race detector watches the plain counters); a timer stopped while its run
// waits for the loop does not run; a panic in one is logged.
func TestTimers(t *testing.T) {
	x := newHarness(t)
	x.start()
	var once, ticks, late int
	tick := make(chan int, 100)
	var every, stale *Timer
	x.call(func() {
		x.h.After(5*time.Millisecond, func() { once++ })
		every = x.h.Every(time.Millisecond, func() { ticks++; tick <- ticks })
		x.h.After(time.Millisecond, func() { panic("timer broke") })
	})
	for n := 0; n < 3; {
		select {
		case n = <-tick:
		case <-time.After(waitLimit):
			t.Fatal("Every did not tick three times")
		}
	}
	x.call(func() {
		if !every.Stop() {
			t.Error("Stop of a running timer reported false")
		}
		if every.Stop() {
			t.Error("a second Stop reported true")
		}
	})
	// Its time comes while the loop is busy: the run waits, then the
	// timer is stopped before the loop takes it.
	x.call(func() {
		stale = x.h.After(time.Millisecond, func() { late++ })
		time.Sleep(20 * time.Millisecond)
		stale.Stop()
	})
	deadline := time.Now().Add(waitLimit)
	for {
		var done bool
		x.call(func() { done = once == 1 && strings.Contains(x.log.String(), "timer broke") })
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("After did not run, or its panic was not logged:\n%s", x.log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	var stopped int
	x.call(func() { stopped = ticks })
	time.Sleep(30 * time.Millisecond)
	x.call(func() {
		if ticks != stopped {
			t.Errorf("Every ticked after Stop: %d, then %d", stopped, ticks)
		}
		if late != 0 {
			t.Error("a timer stopped before the loop took its run still ran")
		}
		if once != 1 {
			t.Errorf("After ran %d times", once)
		}
	})
}
