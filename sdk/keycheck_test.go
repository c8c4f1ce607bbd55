package sdk

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
)

// TestCheckKeyAsksTheHost: CheckKey queues a KeyCheck naming the account
// and the key, and returns the host's answer to that question's id; an
// answer to another id, or one that comes after the caller gave up, goes
// to nobody.
func TestCheckKeyAsksTheHost(t *testing.T) {
	p := newPortal(discardLog())
	type result struct {
		ok  bool
		err error
	}
	ask := func(name string) (<-chan result, *portalpb.KeyCheck) {
		done := make(chan result, 1)
		go func() {
			ok, err := p.CheckKey(context.Background(), name, []byte("key-"+name))
			done <- result{ok, err}
		}()
		// Run waits for the question to be queued.
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		var evs []*portalpb.Event
		_ = p.outbox.Run(ctx, func(f *portalpb.Frame) error {
			evs = f.GetEvents()
			cancel()
			return nil
		})
		if len(evs) != 1 {
			t.Fatalf("queued %v, want one KeyCheck", evs)
		}
		kc := evs[len(evs)-1].GetKeyCheck()
		if kc.GetName() != name || string(kc.GetPublicKey()) != "key-"+name {
			t.Fatalf("KeyCheck %v", kc)
		}
		return done, kc
	}
	answer := func(id uint64, ok bool) {
		p.handleFrame(frame(&portalpb.Event{Kind: &portalpb.Event_KeyChecked{KeyChecked: &portalpb.KeyChecked{
			Id: id, Accepted: ok}}}))
	}
	first, kc1 := ask("alice")
	second, kc2 := ask("bob")
	answer(kc2.GetId(), false)
	answer(kc1.GetId()+kc2.GetId()+100, true) // nobody asked
	answer(kc1.GetId(), true)
	if r := <-first; !r.ok || r.err != nil {
		t.Errorf("alice: %v, %v; want accepted", r.ok, r.err)
	}
	if r := <-second; r.ok || r.err != nil {
		t.Errorf("bob: %v, %v; want declined", r.ok, r.err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := p.CheckKey(ctx, "carol", []byte("k")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("unanswered: err %v, want the deadline", err)
	}
	answer(kc2.GetId()+1, true) // late: dropped without blocking
}

// TestCheckKeyOnTestPortal: a test portal has no host; CheckKey says so,
// unless the test answers in the host's place.
func TestCheckKeyOnTestPortal(t *testing.T) {
	p := NewTestPortal(discardLog())
	if _, err := p.CheckKey(context.Background(), "alice", []byte("k")); !errors.Is(err, ErrKeyCheckUnavailable) {
		t.Fatalf("err %v, want ErrKeyCheckUnavailable", err)
	}
	p.AnswerKeyChecks(func(name string, key []byte) bool { return name == "alice" && string(key) == "k" })
	if ok, err := p.CheckKey(context.Background(), "alice", []byte("k")); !ok || err != nil {
		t.Fatalf("answered: %v, %v", ok, err)
	}
	if ok, _ := p.CheckKey(context.Background(), "bob", []byte("k")); ok {
		t.Fatal("bob's key accepted")
	}
}
