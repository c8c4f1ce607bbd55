package sdk

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// textLog records, in order, what was done to a test connection.
type textLog struct {
	mu  sync.Mutex
	log []string
}

func (l *textLog) add(entries ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, entries...)
}

// texts records the first argument of each message.
func (l *textLog) texts(msgs []Message) {
	for _, m := range msgs {
		text, _ := m.FirstString()
		l.add(text)
	}
}

func (l *textLog) seen() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.log)
}

// gateConn is a connection whose Send waits at a gate the test opens, and
// which records, in order, what was done to it.
type gateConn struct {
	gate    <-chan struct{}
	entered chan struct{}
	textLog
}

func (c *gateConn) Send(_ *Session, msgs []Message) {
	select {
	case c.entered <- struct{}{}:
	default:
	}
	<-c.gate
	c.texts(msgs)
}

func (c *gateConn) Close(reason string) { c.add("closed: " + reason) }

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

// partConn is a connection that records what it was sent; its Send may
// first let another connection's Send go on (opens) or wait for one
// (waits).
type partConn struct {
	opens func()
	waits <-chan struct{}
	textLog
}

func (c *partConn) Send(_ *Session, msgs []Message) {
	if c.opens != nil {
		c.opens()
	}
	if c.waits != nil {
		<-c.waits
	}
	c.texts(msgs)
}

func (c *partConn) Close(string) {}

// TestLargeBroadcastWrittenInParts: a broadcast to at least splitAt
// sessions is written in parts at once, one for each CPU: the first
// session's Send, which waits until the second session's has begun (the
// next id, so in the other part), returns; written by one goroutine, in
// order, it would wait for ever. Every session gets the broadcast once,
// and output that follows it on the lane comes after all of it.
func TestLargeBroadcastWrittenInParts(t *testing.T) {
	p := splitPortal(t, 4)
	lastBegun := make(chan struct{}) // the second session's Send has begun
	var once sync.Once
	begin := func() { once.Do(func() { close(lastBegun) }) }
	conns := []*partConn{{waits: lastBegun}, {opens: begin}, {}, {}}
	ids := connectInOrder(t, p, conns[0], conns[1], conns[2], conns[3])

	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, ev := range []wire.DataEvent{{Out: true, Sessids: ids, Messages: []Message{Text("to all")}},
			{Out: true, Sessids: ids[:1], Messages: []Message{Text("after")}}} {
			if err := p.handleData(ev); err != nil {
				t.Error(err)
			}
		}
		if err := p.lane.wait(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		begin() // let a broadcast written in order finish
		<-done
		t.Fatal("the broadcast's first session waited for its second: written by one goroutine, in order")
	}
	for i, c := range conns {
		want := []string{"to all"}
		if i == 0 {
			want = append(want, "after")
		}
		if got := c.seen(); !slices.Equal(got, want) {
			t.Errorf("session %d got %v, want %v", i+1, got, want)
		}
	}
}

// turnConn records whether two of its Sends ever ran at once. Its first
// Send may wait (waits); each Send ends by calling ended with the number
// of Sends so far.
type turnConn struct {
	inside, calls atomic.Int32
	overlapped    atomic.Bool
	waits         <-chan struct{}
	ended         func(calls int32)
}

func (c *turnConn) Send(*Session, []Message) {
	if c.inside.Add(1) > 1 {
		c.overlapped.Store(true)
	}
	n := c.calls.Add(1)
	if n == 1 && c.waits != nil {
		<-c.waits
	}
	c.inside.Add(-1)
	if c.ended != nil {
		c.ended(n)
	}
}

func (c *turnConn) Close(string) {}

// TestBroadcastInPartsKeepsASessionInOnePart: a session a broadcast lists
// more than once is still written to one call after another: its calls
// are in one part. Here the first session's first Send waits until the
// second session has had two; cut by places in the list, the first
// session's other calls would run meanwhile, at once with it.
func TestBroadcastInPartsKeepsASessionInOnePart(t *testing.T) {
	p := splitPortal(t, 8)
	secondTwice := make(chan struct{})
	conns := []*turnConn{{waits: secondTwice}, {ended: func(n int32) {
		if n == 2 {
			close(secondTwice)
		}
	}}}
	ids := connectInOrder(t, p, conns[0], conns[1])
	listed := []uint64{ids[0], ids[1], ids[0], ids[1], ids[0], ids[1], ids[0], ids[1]}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.deliver(listed, []Message{Text("to all")})
	}()
	wait(t, done, "the broadcast")
	if conns[0].overlapped.Load() {
		t.Error("the first session's Sends ran at once")
	}
	for i, c := range conns {
		if n := c.calls.Load(); n != 4 {
			t.Errorf("session %d: %d Sends, want 4", i+1, n)
		}
	}
}

// connectInOrder makes and connects a session for each of conns, in turn,
// and returns their ids, which it checks are consecutive (the tests of a
// broadcast in parts need two sessions in different parts: the part is
// the id modulo the number of parts).
func connectInOrder(t *testing.T, p *Portal, conns ...Conn) []uint64 {
	t.Helper()
	ids := make([]uint64, len(conns))
	for i, c := range conns {
		s, err := p.NewSession(testCtx(t), c, "telnet", fmt.Sprintf("192.0.2.%d:4000", i+1))
		if err != nil {
			t.Fatal(err)
		}
		s.Connect()
		ids[i] = s.ID()
		if i > 0 && ids[i] != ids[i-1]+1 {
			t.Fatalf("session ids %v: want each to follow the one before", ids[:i+1])
		}
	}
	drain(t, p.Outbox())
	return ids
}

// splitPortal is a test portal that writes a broadcast to n sessions or
// more on the client lane, in parts, two of them while the test runs.
func splitPortal(t *testing.T, n int) *Portal {
	procs := runtime.GOMAXPROCS(2)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs) })
	p := NewTestPortal(discardLog())
	p.fanoutAt, p.splitAt = n, n
	return p
}
