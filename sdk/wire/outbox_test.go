package wire

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 10 * time.Second

// ev returns a DataIn event whose sessid identifies it.
func ev(n uint64) *portalpb.Event {
	return &portalpb.Event{Kind: &portalpb.Event_DataIn{DataIn: &portalpb.DataIn{Sessid: n}}}
}

func evID(e *portalpb.Event) uint64 { return e.GetDataIn().GetSessid() }

func evs(from, to uint64) []*portalpb.Event {
	var out []*portalpb.Event
	for i := from; i < to; i++ {
		out = append(out, ev(i))
	}
	return out
}

// runner runs o.Run in the background and hands over each frame sent.
type runner struct {
	frames chan *portalpb.Frame
	done   chan error
	cancel context.CancelFunc
}

func startRun(t *testing.T, o *Outbox) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{frames: make(chan *portalpb.Frame, 1024), done: make(chan error, 1), cancel: cancel}
	go func() {
		r.done <- o.Run(ctx, func(f *portalpb.Frame) error {
			r.frames <- f
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(testTimeout):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

func (r *runner) frame(t *testing.T) *portalpb.Frame {
	t.Helper()
	select {
	case f := <-r.frames:
		return f
	case <-time.After(testTimeout):
		t.Fatal("no frame sent")
		return nil
	}
}

// events receives frames until n events have come, checking their order.
func (r *runner) events(t *testing.T, n int) (frames int) {
	t.Helper()
	var next uint64
	for got := 0; got < n; {
		f := r.frame(t)
		frames++
		for _, e := range f.GetEvents() {
			if evID(e) != next {
				t.Fatalf("event %d arrived where %d was due", evID(e), next)
			}
			next++
			got++
		}
	}
	return frames
}

func TestOutboxBatchesQueuedEventsIntoOneFrame(t *testing.T) {
	o := NewOutbox(0)
	if err := o.Put(evs(0, 5)...); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs(5, 100) {
		if err := o.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	if o.Len() != 100 {
		t.Fatalf("Len = %d, want 100", o.Len())
	}
	r := startRun(t, o)
	f := r.frame(t)
	if len(f.GetEvents()) != 100 {
		t.Fatalf("first frame has %d events, want all 100 in one frame", len(f.GetEvents()))
	}
	for i, e := range f.GetEvents() {
		if evID(e) != uint64(i) {
			t.Fatalf("event %d is %d", i, evID(e))
		}
	}
	if o.Len() != 0 {
		t.Errorf("Len after send = %d", o.Len())
	}
	// Events put while Run waits wake it.
	if err := o.Put(ev(100)); err != nil {
		t.Fatal(err)
	}
	if f := r.frame(t); len(f.GetEvents()) != 1 || evID(f.GetEvents()[0]) != 100 {
		t.Errorf("later frame = %v", f)
	}
}

func TestOutboxMaxFrameEvents(t *testing.T) {
	o := NewOutbox(0)
	n := 2*MaxFrameEvents + 3
	if err := o.Put(evs(0, uint64(n))...); err != nil {
		t.Fatal(err)
	}
	r := startRun(t, o)
	for i, want := range []int{MaxFrameEvents, MaxFrameEvents, 3} {
		f := r.frame(t)
		if len(f.GetEvents()) != want {
			t.Fatalf("frame %d has %d events, want %d", i, len(f.GetEvents()), want)
		}
		first := uint64(i * MaxFrameEvents)
		if got := evID(f.GetEvents()[0]); got != first {
			t.Fatalf("frame %d starts with %d, want %d", i, got, first)
		}
	}
}

func TestOutboxMaxFrameBytes(t *testing.T) {
	big := func(n uint64, size int) *portalpb.Event {
		return &portalpb.Event{Kind: &portalpb.Event_DataIn{DataIn: &portalpb.DataIn{
			Sessid: n, Messages: []*portalpb.Message{{Name: "text", StrArgs: []string{strings.Repeat("x", size)}}}}}}
	}
	o := NewOutbox(0)
	// 300 KB each: three fit under 1 MiB, the fourth does not.
	for i := range uint64(5) {
		if err := o.Put(big(i, 300<<10)); err != nil {
			t.Fatal(err)
		}
	}
	// One event over the bound by itself still goes, alone.
	if err := o.Put(big(5, MaxFrameBytes+10), big(6, 10)); err != nil {
		t.Fatal(err)
	}
	r := startRun(t, o)
	for i, want := range [][]uint64{{0, 1, 2}, {3, 4}, {5}, {6}} {
		f := r.frame(t)
		var ids []uint64
		for _, e := range f.GetEvents() {
			ids = append(ids, evID(e))
		}
		if len(ids) != len(want) {
			t.Fatalf("frame %d carries %v, want %v", i, ids, want)
		}
		for j := range ids {
			if ids[j] != want[j] {
				t.Fatalf("frame %d carries %v, want %v", i, ids, want)
			}
		}
	}
}

func TestOutboxFull(t *testing.T) {
	o := NewOutbox(3)
	if err := o.Put(ev(0), ev(1)); err != nil {
		t.Fatal(err)
	}
	if err := o.Put(ev(2), ev(3)); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("Put past max = %v, want ErrOutboxFull", err)
	}
	if o.Len() != 2 {
		t.Fatalf("a refused Put queued something: Len = %d", o.Len())
	}
	if err := o.Put(ev(2)); err != nil {
		t.Fatalf("Put up to max: %v", err)
	}
	if err := o.Put(ev(3)); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("Put at max = %v, want ErrOutboxFull", err)
	}
	// Sending frees room.
	r := startRun(t, o)
	r.events(t, 3)
	if err := o.Put(ev(3)); err != nil {
		t.Fatalf("Put after drain: %v", err)
	}
	if f := r.frame(t); evID(f.GetEvents()[0]) != 3 {
		t.Errorf("got %v", f)
	}

	unbounded := NewOutbox(0)
	if err := unbounded.Put(evs(0, 10_000)...); err != nil {
		t.Errorf("unbounded outbox: %v", err)
	}
}

func TestOutboxRequeueOnSendError(t *testing.T) {
	o := NewOutbox(0)
	if err := o.Put(evs(0, 10)...); err != nil {
		t.Fatal(err)
	}
	broken := errors.New("stream broken")
	sent := 0
	err := o.Run(context.Background(), func(f *portalpb.Frame) error {
		sent++
		return broken
	})
	if !errors.Is(err, broken) {
		t.Fatalf("Run = %v, want the send error", err)
	}
	if sent != 1 {
		t.Fatalf("send called %d times, want 1", sent)
	}
	if o.Len() != 10 {
		t.Fatalf("Len after failed send = %d, want 10 (requeued)", o.Len())
	}
	// Queued while no Run is active: after the requeued ones.
	if err := o.Put(evs(10, 15)...); err != nil {
		t.Fatal(err)
	}
	r := startRun(t, o)
	if frames := r.events(t, 15); frames != 1 {
		t.Errorf("requeued and later events came in %d frames, want 1", frames)
	}
}

func TestOutboxRunReturnsOnCancel(t *testing.T) {
	o := NewOutbox(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- o.Run(ctx, func(*portalpb.Frame) error { return nil })
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Run did not return after cancel")
	}
}

func TestOutboxRunStopsWhenCancelledUnderTraffic(t *testing.T) {
	o := NewOutbox(0)
	ctx, cancel := context.WithCancel(context.Background())
	if err := o.Put(evs(0, 2*MaxFrameEvents)...); err != nil {
		t.Fatal(err)
	}
	frames := 0
	err := o.Run(ctx, func(*portalpb.Frame) error {
		frames++
		cancel() // the link is replaced while events are still queued
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if frames != 1 {
		t.Errorf("%d frames sent after cancel, want 1", frames)
	}
	if o.Len() != MaxFrameEvents {
		t.Errorf("Len = %d, want %d left for the next link", o.Len(), MaxFrameEvents)
	}
	// A Run with an ended context sends nothing.
	if err := o.Run(ctx, func(*portalpb.Frame) error {
		t.Error("sent on an ended context")
		return nil
	}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
}

func TestOutboxConcurrentPutKeepsEachProducersOrder(t *testing.T) {
	o := NewOutbox(0)
	r := startRun(t, o)
	const producers, each = 8, 500
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := o.Put(ev(uint64(p*each + i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	next := make([]int, producers)
	for got := 0; got < producers*each; {
		for _, e := range r.frame(t).GetEvents() {
			id := int(evID(e))
			p, i := id/each, id%each
			if i != next[p] {
				t.Fatalf("producer %d: event %d arrived where %d was due", p, i, next[p])
			}
			next[p]++
			got++
		}
	}
}

func TestOutboxFlush(t *testing.T) {
	o := NewOutbox(0)
	if err := o.Flush(func(*portalpb.Frame) error {
		t.Error("sent a frame from an empty outbox")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := o.Put(evs(0, MaxFrameEvents+5)...); err != nil {
		t.Fatal(err)
	}
	broken := errors.New("stream broken")
	var sizes []int
	err := o.Flush(func(f *portalpb.Frame) error {
		if len(sizes) == 1 {
			return broken
		}
		sizes = append(sizes, len(f.GetEvents()))
		return nil
	})
	if !errors.Is(err, broken) || len(sizes) != 1 || sizes[0] != MaxFrameEvents {
		t.Fatalf("Flush = %v after frames %v", err, sizes)
	}
	if o.Len() != 5 {
		t.Fatalf("Len after a failed Flush = %d, want 5 requeued", o.Len())
	}
	var got []uint64
	if err := o.Flush(func(f *portalpb.Frame) error {
		for _, e := range f.GetEvents() {
			got = append(got, evID(e))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, id := range got {
		if id != uint64(MaxFrameEvents+i) {
			t.Fatalf("flushed %v", got)
		}
	}
	if len(got) != 5 || o.Len() != 0 {
		t.Errorf("flushed %d, %d left", len(got), o.Len())
	}
}
