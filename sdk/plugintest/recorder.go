package plugintest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// Recorder collects every event a plugin driven directly in a test sends
// through its portal (sdk.NewTestPortal), without a host or a link: the
// harness of a plugin's own tests calls its methods (StartBot, a
// connection) and waits here for what the host would get. Events are
// consumed in order by Await; the messages of DataIn events separately,
// in order, by AwaitInput.
type Recorder struct {
	t       testing.TB
	timeout time.Duration

	mu     sync.Mutex
	events []*portalpb.Event
	seen   int
	inputs []sdk.Message
	read   int
	update chan struct{}
}

// Record starts collecting what portal's outbox sends, until stop is
// called (a harness calls it in its cleanup, after the plugin's Shutdown,
// so that nothing is lost). Each wait gives up after timeout.
func Record(t testing.TB, portal *sdk.Portal, timeout time.Duration) (r *Recorder, stop func()) {
	r = &Recorder{t: t, timeout: timeout, update: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		portal.Outbox().Run(ctx, r.collect)
	}()
	return r, func() { cancel(); <-done }
}

func (r *Recorder) collect(f *portalpb.Frame) error {
	r.mu.Lock()
	r.events = append(r.events, f.GetEvents()...)
	for _, ev := range f.GetEvents() {
		if ev.GetDataIn() != nil {
			msgs, err := wire.MessagesFromPB(ev.GetDataIn().GetMessages())
			if err != nil {
				r.t.Errorf("plugintest: data in: %v", err)
			}
			r.inputs = append(r.inputs, msgs...)
		}
	}
	r.mu.Unlock()
	select {
	case r.update <- struct{}{}:
	default:
	}
	return nil
}

// Await waits for the next event (after those already consumed) that
// match accepts, and consumes up to it.
func (r *Recorder) Await(what string, match func(ev *portalpb.Event) bool) *portalpb.Event {
	r.t.Helper()
	deadline := time.After(r.timeout)
	for {
		r.mu.Lock()
		for i := r.seen; i < len(r.events); i++ {
			if match(r.events[i]) {
				r.seen = i + 1
				ev := r.events[i]
				r.mu.Unlock()
				return ev
			}
		}
		r.mu.Unlock()
		select {
		case <-r.update:
		case <-deadline:
			r.t.Fatalf("plugintest: no event: %s", what)
			return nil
		}
	}
}

// AwaitFlag waits until a Connect or Sync tells the host that protocol
// flag name starts with prefix, and returns all the session's flags.
func (r *Recorder) AwaitFlag(name, prefix string) map[string]any {
	r.t.Helper()
	var flags map[string]any
	r.Await(name+" "+prefix, func(ev *portalpb.Event) bool {
		d, ok := SessionData(ev)
		if !ok {
			return false
		}
		if s := d.FlagString(name); strings.HasPrefix(s, prefix) {
			flags = d.ProtocolFlags.Map()
			return true
		}
		return false
	})
	return flags
}

// AwaitInput waits for the next message sent to the host as input,
// whatever other events were awaited meanwhile.
func (r *Recorder) AwaitInput() sdk.Message {
	r.t.Helper()
	deadline := time.After(r.timeout)
	for {
		r.mu.Lock()
		if r.read < len(r.inputs) {
			m := r.inputs[r.read]
			r.read++
			r.mu.Unlock()
			return m
		}
		r.mu.Unlock()
		select {
		case <-r.update:
		case <-deadline:
			r.t.Fatal("plugintest: no input")
		}
	}
}

// Events returns the events from index from on (all that arrived, consumed
// or not) and how many have arrived: the from of a later call.
func (r *Recorder) Events(from int) ([]*portalpb.Event, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*portalpb.Event(nil), r.events[min(from, len(r.events)):]...), len(r.events)
}

// Changed gets a value when events arrive, for a test that polls Events
// (one waiter at a time: the waits above use it too).
func (r *Recorder) Changed() <-chan struct{} { return r.update }

// Unconsumed returns the events Await has not consumed yet.
func (r *Recorder) Unconsumed() []*portalpb.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*portalpb.Event(nil), r.events[r.seen:]...)
}

// PendingInput returns the input messages not yet consumed.
func (r *Recorder) PendingInput() []sdk.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sdk.Message(nil), r.inputs[r.read:]...)
}

// SessionData returns the session data a Connect or Sync event carries.
func SessionData(ev *portalpb.Event) (contract.SessionData, bool) {
	var pd *portalpb.SessionData
	switch {
	case ev.GetConnect() != nil:
		pd = ev.GetConnect().GetSession()
	case ev.GetSync() != nil:
		pd = ev.GetSync().GetSession()
	default:
		return contract.SessionData{}, false
	}
	d, err := wire.SessionFromPB(pd)
	return d, err == nil
}
