package sdk

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// gateConn is a connection whose Send waits at a gate the test opens, and
// which records, in order, what was done to it.
type gateConn struct {
	gate    <-chan struct{}
	entered chan struct{}
	mu      sync.Mutex
	log     []string
}

func (c *gateConn) Send(_ *Session, msgs []Message) {
	select {
	case c.entered <- struct{}{}:
	default:
	}
	<-c.gate
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		text, _ := m.FirstString()
		c.log = append(c.log, text)
	}
}

func (c *gateConn) Close(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, "closed: "+reason)
}

func (c *gateConn) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

func textOut(text string, ids ...uint64) *portalpb.Event {
	return &portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: ids,
		Messages: []*portalpb.Message{{Name: "text", StrArgs: []string{text}}}}}}
}

// TestLargeBroadcastLeavesTheReaderFree: a broadcast to many sessions is
// written off the link's reader, which goes on at once with what follows:
// the link's own events (a session id grant) take effect while the
// broadcast is still being written; events that reach clients wait for it
// and run in the host's order; the session list for a host waits for all
// of it. Before, the reader wrote the broadcast itself and read nothing
// meanwhile. Output in data frames (data link version 2) takes the same
// ways as output in events frames.
func TestLargeBroadcastLeavesTheReaderFree(t *testing.T) {
	t.Run("events", func(t *testing.T) {
		largeBroadcast(t, func(p *Portal, text string, ids ...uint64) { p.handleEvent(textOut(text, ids...)) })
	})
	t.Run("data", func(t *testing.T) {
		largeBroadcast(t, func(p *Portal, text string, ids ...uint64) {
			if err := p.handleData(wire.DataEvent{Out: true, Sessids: ids, Messages: []Message{Text(text)}}); err != nil {
				t.Error(err)
			}
		})
	})
}

func largeBroadcast(t *testing.T, out func(p *Portal, text string, ids ...uint64)) {
	p := NewTestPortal(discardLog())
	p.fanoutAt = 3
	gate := make(chan struct{})
	conns := make([]*gateConn, 3)
	ids := make([]uint64, 3)
	for i := range conns {
		conns[i] = &gateConn{gate: gate, entered: make(chan struct{}, 1)}
		s, err := p.NewSession(testCtx(t), conns[i], "telnet", fmt.Sprintf("192.0.2.%d:4000", i+1))
		if err != nil {
			t.Fatal(err)
		}
		s.Connect()
		ids[i] = s.ID()
	}
	drain(t, p.Outbox())

	handled := make(chan struct{})
	go func() {
		defer close(handled)
		out(p, "restarting", ids...)
		p.handleEvent(&portalpb.Event{Kind: &portalpb.Event_GrantSessids{GrantSessids: &portalpb.GrantSessids{Start: 5000, Count: 10}}})
		out(p, "for one", ids[0])
		p.handleEvent(&portalpb.Event{Kind: &portalpb.Event_Disconnect{Disconnect: &portalpb.Disconnect{Sessid: ids[1], Reason: "bye"}}})
	}()
	wait(t, conns[0].entered, "the broadcast's first write")
	wait(t, handled, "the reader to go on while the broadcast is written")
	// The grant took effect while the broadcast was being written.
	p.mu.Lock()
	granted := slices.Contains(p.ids, idBlock{next: 5000, end: 5010})
	p.mu.Unlock()
	if !granted {
		t.Error("the session id grant after the broadcast had not taken effect while it was written")
	}
	if got := conns[0].seen(); len(got) != 0 {
		t.Fatalf("session 1 got %v before the broadcast was let through", got)
	}

	listed := make(chan int, 1)
	go func() {
		srv := &Server{portal: p}
		resp, err := srv.Sessions(testCtx(t), &portalpb.SessionsRequest{})
		if err != nil {
			t.Error(err)
		}
		n := 0
		if resp != nil {
			n = len(resp.ProtoReflect().GetUnknown())
		}
		listed <- n
	}()
	none(t, listed, "a session list while the broadcast is written")
	close(gate)
	if n := wait(t, listed, "the session list"); n == 0 {
		t.Error("an empty session list")
	}
	if got, want := conns[0].seen(), []string{"restarting", "for one"}; !slices.Equal(got, want) {
		t.Errorf("session 1 got %v, want %v", got, want)
	}
	if got, want := conns[1].seen(), []string{"restarting", "closed: bye"}; !slices.Equal(got, want) {
		t.Errorf("session 2 got %v, want %v", got, want)
	}
	if got, want := conns[2].seen(), []string{"restarting"}; !slices.Equal(got, want) {
		t.Errorf("session 3 got %v, want %v", got, want)
	}
	if p.Session(ids[1]) != nil {
		t.Error("session 2 still open after its disconnect")
	}
	if err := p.lane.wait(context.Background()); err != nil || p.lane.busy.Load() {
		t.Error("the lane is still busy")
	}
}

// TestSmallOutputStaysOnTheReader: output to fewer sessions than a large
// broadcast is written by the reader itself, before handleEvent returns
// (no goroutine, no queue on the hot path).
func TestSmallOutputStaysOnTheReader(t *testing.T) {
	p := NewTestPortal(discardLog())
	p.fanoutAt = 3
	c := newFakeConn()
	s := newSession(t, p, c)
	s.Connect()
	drain(t, p.Outbox())
	p.handleEvent(textOut("hello", s.ID()))
	select {
	case got := <-c.sends:
		if text, _ := got.msgs[0].FirstString(); text != "hello" {
			t.Errorf("sent %q", text)
		}
	default:
		t.Fatal("output to one session was not written before handleEvent returned")
	}
	if p.lane.busy.Load() {
		t.Error("the lane ran for output to one session")
	}
}
