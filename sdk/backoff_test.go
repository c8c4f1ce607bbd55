package sdk

import (
	"context"
	"testing"
	"time"
)

func TestBackoffGrowsAndStartsAgainAfterAStableConnection(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 4 * time.Second, Factor: 1.5, StableAfter: time.Minute}
	var got []time.Duration
	for range 6 {
		got = append(got, b.Next())
	}
	want := []time.Duration{time.Second, 1500 * time.Millisecond, 2250 * time.Millisecond, 3375 * time.Millisecond, 4 * time.Second, 4 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits = %v, want %v", got, want)
		}
	}
	if b.Lasted(59 * time.Second) {
		t.Error("a connection shorter than StableAfter started the waits again")
	}
	if d := b.Next(); d != 4*time.Second {
		t.Errorf("after a short connection the wait is %v, want it kept at 4s", d)
	}
	if !b.Lasted(time.Minute) {
		t.Error("a connection of StableAfter did not start the waits again")
	}
	if d := b.Next(); d != time.Second {
		t.Errorf("after a stable connection the wait is %v, want Min", d)
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	if !Wait(t.Context(), time.Millisecond) {
		t.Error("a wait that passed reported it was cut short")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	if Wait(ctx, time.Hour) {
		t.Error("a wait whose context was done reported it passed")
	}
	if time.Since(start) > 10*time.Second {
		t.Error("a cancelled wait did not end at once")
	}
}
