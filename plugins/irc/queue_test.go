package main

import (
	"testing"
	"time"
)

func TestTokenBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	tb := newTokenBucket(4, time.Second)
	for i := range 4 {
		if d := tb.take(now); d != 0 {
			t.Fatalf("burst line %d waits %v", i, d)
		}
	}
	if d := tb.take(now); d != time.Second {
		t.Fatalf("after the burst: wait %v, want 1s", d)
	}
	if d := tb.take(now.Add(400 * time.Millisecond)); d != 600*time.Millisecond {
		t.Fatalf("wait %v, want 600ms", d)
	}
	if d := tb.take(now.Add(time.Second)); d != 0 {
		t.Fatalf("a token a second: wait %v", d)
	}
	// Idle for long: the bucket fills to the burst, no further.
	later := now.Add(time.Hour)
	for i := range 4 {
		if d := tb.take(later); d != 0 {
			t.Fatalf("refilled burst line %d waits %v", i, d)
		}
	}
	if d := tb.take(later); d == 0 {
		t.Fatal("the bucket holds more than its burst")
	}
	// Lines that cannot wait use tokens but never go into debt.
	tb2 := newTokenBucket(2, time.Second)
	for range 5 {
		tb2.spend(now)
	}
	if d := tb2.take(now.Add(time.Second)); d != 0 {
		t.Fatalf("spend made debt: wait %v", d)
	}
}

func TestLineQueue(t *testing.T) {
	now := time.Unix(1000, 0)
	q := newLineQueue(3, time.Minute)
	if dropped := q.push(now, "a", "b", "c", "d"); dropped != 1 {
		t.Fatalf("dropped %d, want 1", dropped)
	}
	select {
	case <-q.ready:
		q.signal() // a reader that took the signal without a line gives it back
	default:
		t.Fatal("not ready with lines queued")
	}
	for _, want := range []string{"a", "b"} {
		if l, ok, _ := q.pop(now); !ok || l != want {
			t.Fatalf("pop = %q %v, want %q", l, ok, want)
		}
	}
	q.push(now.Add(2*time.Minute), "e")
	// "c" is stale by now.
	l, ok, stale := q.pop(now.Add(2 * time.Minute))
	if !ok || l != "e" || stale != 1 {
		t.Fatalf("pop = %q %v stale %d", l, ok, stale)
	}
	if _, ok, _ := q.pop(now); ok || q.len() != 0 {
		t.Fatal("queue not empty")
	}
	select {
	case <-q.ready:
		t.Fatal("ready while empty")
	default:
	}
}
