package sdk

import (
	"context"
	"errors"
	"testing"
	"time"
)

type testBot struct {
	stopped chan string
	done    chan struct{}
}

// TestBotSet: one bot per name, Forget only of the bot that holds the
// name, no start after Shutdown, which stops every bot and waits for it.
func TestBotSet(t *testing.T) {
	var s BotSet[*testBot]
	old, end, err := s.BeginStart("a")
	if err != nil || old != nil {
		t.Fatalf("first start: %v, %v", old, err)
	}
	first := &testBot{stopped: make(chan string, 1), done: make(chan struct{})}
	s.Put("a", first)
	end()
	old, end, err = s.BeginStart("a")
	if err != nil || old != first {
		t.Fatalf("second start found %v, %v; want the first bot", old, err)
	}
	second := &testBot{stopped: make(chan string, 1), done: make(chan struct{})}
	s.Put("a", second)
	end()
	s.Forget("a", first) // the first stops late: the second stays
	if s.Get("a") != second {
		t.Fatal("Forget of a replaced bot removed its successor")
	}
	go func() {
		<-second.stopped
		close(second.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx, func(b *testBot) { b.stopped <- "stop" }, func(b *testBot) <-chan struct{} { return b.done }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.BeginStart("b"); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("start after Shutdown: %v", err)
	}
	s.Forget("a", second)
	if s.Get("a") != nil {
		t.Fatal("Forget kept the bot")
	}

	// A bot that never stops: Shutdown gives up when ctx ends.
	var s2 BotSet[*testBot]
	stuck := &testBot{stopped: make(chan string, 1), done: make(chan struct{})}
	s2.Put("x", stuck)
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := s2.Shutdown(short, func(b *testBot) { b.stopped <- "stop" }, func(b *testBot) <-chan struct{} { return b.done }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a stuck bot: %v", err)
	}
}
