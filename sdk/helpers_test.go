package sdk

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 10 * time.Second

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func wait[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// none checks that nothing is waiting on c.
func none[T any](t *testing.T, c <-chan T, what string) {
	t.Helper()
	select {
	case v := <-c:
		t.Errorf("unexpected %s: %v", what, v)
	default:
	}
}

type sendCall struct {
	s    *Session
	msgs []Message
}

// fakeConn records what the portal does to a connection. Calls are
// delivered on channels, so tests wait on signals, not sleeps.
type fakeConn struct {
	sends  chan sendCall
	closes chan string
}

func newFakeConn() *fakeConn {
	return &fakeConn{sends: make(chan sendCall, 64), closes: make(chan string, 8)}
}

func (c *fakeConn) Send(s *Session, msgs []Message) { c.sends <- sendCall{s, msgs} }
func (c *fakeConn) Close(reason string)             { c.closes <- reason }

// notifyConn is a fakeConn that wants login and sync notices.
type notifyConn struct {
	*fakeConn
	logins chan *Session
	syncs  chan *Session
}

func newNotifyConn() *notifyConn {
	return &notifyConn{fakeConn: newFakeConn(), logins: make(chan *Session, 8), syncs: make(chan *Session, 8)}
}

func (c *notifyConn) LoggedIn(s *Session) { c.logins <- s }
func (c *notifyConn) Synced(s *Session)   { c.syncs <- s }

// drain takes every event queued in o, in order.
func drain(t *testing.T, o *wire.Outbox) []*portalpb.Event {
	t.Helper()
	if o.Len() == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var out []*portalpb.Event
	err := o.Run(ctx, func(f *portalpb.Frame) error {
		out = append(out, f.GetEvents()...)
		if o.Len() == 0 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("draining the outbox: %v", err)
	}
	return out
}

// kinds names the events' kinds, for messages.
func kinds(evs []*portalpb.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		switch e.Kind.(type) {
		case *portalpb.Event_Connect:
			out[i] = "connect"
		case *portalpb.Event_DataIn:
			out[i] = "data_in"
		case *portalpb.Event_Sync:
			out[i] = "sync"
		case *portalpb.Event_Disconnected:
			out[i] = "disconnected"
		case *portalpb.Event_NeedSessids:
			out[i] = "need_sessids"
		default:
			out[i] = "other"
		}
	}
	return out
}

func dataInTexts(t *testing.T, e *portalpb.Event) []string {
	t.Helper()
	msgs, err := wire.MessagesFromPB(e.GetDataIn().GetMessages())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		s, _ := m.FirstString()
		out = append(out, s)
	}
	return out
}

// newSession makes a session on p with conn, failing the test on error.
func newSession(t *testing.T, p *Portal, conn Conn) *Session {
	t.Helper()
	s, err := p.NewSession(testCtx(t), conn, "telnet", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pbSession converts d for a host→plugin event.
func pbSession(t *testing.T, d SessionData) *portalpb.SessionData {
	t.Helper()
	pd, err := wire.SessionToPB(d)
	if err != nil {
		t.Fatal(err)
	}
	return pd
}

func frame(evs ...*portalpb.Event) *portalpb.Frame { return &portalpb.Frame{Events: evs} }

// safeCounter counts calls across goroutines.
type safeCounter struct {
	mu sync.Mutex
	n  int
}

func (c *safeCounter) inc() {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

func (c *safeCounter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
