package sdk

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// ackingPortal is a portal whose host acknowledges input: a Configure with
// a receipt, then a link (resumeInput), as a fresh process sees them.
func ackingPortal(t *testing.T) *Portal {
	t.Helper()
	p := NewTestPortal(discardLog())
	p.inputs.offerReceipt(&portalpb.InputReceipt{Known: true}, false)
	p.resumeInput()
	return p
}

// typed announces a session on p and types lines on it.
func typed(t *testing.T, p *Portal, conn Conn, lines ...string) *Session {
	t.Helper()
	s := newSession(t, p, conn)
	s.Connect()
	for _, l := range lines {
		s.DataIn(Text(l))
	}
	return s
}

// sentInput takes what the outbox holds (as a link would send it) and
// returns the input's seqs, in order.
func sentInput(t *testing.T, p *Portal) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, ev := range drain(t, p.Outbox()) {
		if in := ev.GetDataIn(); in != nil {
			seqs = append(seqs, in.GetSeq())
		}
	}
	return seqs
}

func keptSeqs(p *Portal) []uint64 {
	p.inputs.mu.Lock()
	defer p.inputs.mu.Unlock()
	var out []uint64
	for _, k := range p.inputs.kept {
		out = append(out, k.seq)
	}
	return out
}

func ack(p *Portal, a wire.InputAck) {
	p.handleFrame(frame(wire.InputAckToPB(a)))
}

// TestInputNumberedAndKeptUntilFinished: input is numbered from 1 across
// sessions in the order it is sent, and kept until an ack says it is
// finished: at or below handled, or up to received and not listed
// unfinished.
func TestInputNumberedAndKeptUntilFinished(t *testing.T) {
	p := ackingPortal(t)
	typed(t, p, newFakeConn(), "a1", "a2")
	typed(t, p, newFakeConn(), "b1", "b2", "b3")
	if got := sentInput(t, p); !slices.Equal(got, []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("seqs %v, want 1..5", got)
	}
	ack(p, wire.InputAck{Received: 4, Handled: 1, Unfinished: []uint64{3}})
	if got := keptSeqs(p); !slices.Equal(got, []uint64{3, 5}) {
		t.Errorf("kept %v after the ack, want [3 5]", got)
	}
	ack(p, wire.InputAck{Received: 5, Handled: 5})
	if got := keptSeqs(p); len(got) != 0 {
		t.Errorf("kept %v after everything finished", got)
	}
}

// TestInputNotKeptForAHostThatDoesNotAck: a host that sent no receipt
// acknowledges nothing; the plugin keeps nothing for it, and input is not
// refused however much of it goes out.
func TestInputNotKeptForAHostThatDoesNotAck(t *testing.T) {
	p := NewTestPortal(discardLog())
	p.inputs.max = 2
	p.inputs.offerReceipt(nil, false)
	p.resumeInput()
	conn := newFakeConn()
	typed(t, p, conn, "1", "2", "3", "4")
	none(t, conn.sends, "message")
	if got := sentInput(t, p); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Errorf("seqs %v", got)
	}
	if got := keptSeqs(p); len(got) != 0 {
		t.Errorf("kept %v for a host that does not acknowledge", got)
	}
}

// TestKeptInputBound: at the bound, new input is refused and the client
// told (msgBusy), as when the outbox is full; kept input is never dropped
// to make room (it could not be told or sent again after a crash). Once
// the host acknowledges, input is taken again.
func TestKeptInputBound(t *testing.T) {
	p := ackingPortal(t)
	p.inputs.max = 3
	conn := newFakeConn()
	s := typed(t, p, conn, "1", "2", "3")
	none(t, conn.sends, "message")
	s.DataIn(Text("4"))
	if got := wait(t, conn.sends, "the refusal").msgs; len(got) != 1 || got[0].Args[0] != msgBusy {
		t.Errorf("told %v, want %q", got, msgBusy)
	}
	if got := sentInput(t, p); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("sent %v: the refused line went out", got)
	}
	ack(p, wire.InputAck{Received: 3, Handled: 2, Unfinished: []uint64{3}})
	s.DataIn(Text("5"))
	none(t, conn.sends, "message")
	if got := sentInput(t, p); !slices.Equal(got, []uint64{4}) {
		t.Errorf("after the ack, sent %v, want [4] (the refused line had no number)", got)
	}
	if got := keptSeqs(p); !slices.Equal(got, []uint64{3, 4}) {
		t.Errorf("kept %v", got)
	}
}

// TestResumeAfterHostCrash: when a host links up after the last one died,
// input still queued goes out as it is; input sent but above the new
// host's receipt (the dead host never took it) is sent again first, in
// order; input at or below the receipt and not finished is not sent again
// and its session is told once.
func TestResumeAfterHostCrash(t *testing.T) {
	p := ackingPortal(t)
	a, b := newFakeConn(), newFakeConn()
	sa := typed(t, p, a, "a1")         // 1
	sb := typed(t, p, b, "b1", "b2")   // 2, 3
	sa.DataIn(Text("a2"), Text("a2'")) // 4
	if got := sentInput(t, p); len(got) != 4 {
		t.Fatalf("sent %v", got)
	}
	ack(p, wire.InputAck{Received: 2, Handled: 1, Unfinished: []uint64{2}})
	// Typed while no host runs: queued, never sent.
	sb.DataIn(Text("b3")) // 5
	sa.DataIn(Text("a3")) // 6

	// The new host says the dead one took input up to 3.
	p.inputs.offerReceipt(&portalpb.InputReceipt{Received: 3, Known: true}, false)
	p.resumeInput()
	if got := wait(t, b.sends, "b told").msgs; got[0].Args[0] != MsgMayNotHaveRun {
		t.Errorf("b told %v", got)
	}
	none(t, b.sends, "second message to b")
	none(t, a.sends, "message to a (its unfinished input was never received)")
	var order []string
	var seqs []uint64
	for _, ev := range drain(t, p.Outbox()) {
		if in := ev.GetDataIn(); in != nil {
			seqs = append(seqs, in.GetSeq())
			order = append(order, dataInTexts(t, ev)...)
		}
	}
	if !slices.Equal(seqs, []uint64{4, 5, 6}) || !slices.Equal(order, []string{"a2", "a2'", "b3", "a3"}) {
		t.Errorf("the new link gets %v %q, want seqs 4 5 6: a2 a2' b3 a3", seqs, order)
	}
	if got := keptSeqs(p); !slices.Equal(got, []uint64{4, 5, 6}) {
		t.Errorf("kept %v, want 4 5 6 until the new host acknowledges them", got)
	}
}

// typingQueue is the portal's outbox as resume sees it, with a player
// typing a line (type) at the instant the queue is looked at, whenever a
// line can be taken then: that is, unless the log is settling (its lock
// held), when input waits for it to end.
type typingQueue struct {
	p     *Portal
	typ   func()
	typed bool
}

func (q *typingQueue) Holds() func(*portalpb.Event) bool {
	holds := q.p.outbox.Holds()
	if !q.typed && q.p.inputs.mu.TryLock() {
		q.p.inputs.mu.Unlock()
		q.typ()
		q.typed = true
	}
	return holds
}

func (q *typingQueue) PutFront(evs ...*portalpb.Event) { q.p.outbox.PutFront(evs...) }

// TestResumeWithInputTypedMeanwhile: a line typed while a new link comes
// up, as the kept input is settled, goes out once, after what came
// before it. It used to be numbered, queued and kept just after the
// queue was looked at, so that it was seen as sent and not queued, and
// put back at the front too: the host ran it twice, once ahead of older
// input (the crash test saw "line 1080 ran twice", first before 930).
func TestResumeWithInputTypedMeanwhile(t *testing.T) {
	p := ackingPortal(t)
	a := newFakeConn()
	sa := typed(t, p, a, "1", "2")
	if got := sentInput(t, p); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("sent %v", got)
	}
	// The host died; typed while none runs: queued.
	sa.DataIn(Text("3"))
	// The new host says the dead one took input 1 only: 2 goes again.
	p.inputs.offerReceipt(&portalpb.InputReceipt{Received: 1, Known: true}, false)
	q := &typingQueue{p: p, typ: func() { sa.DataIn(Text("4")) }}
	p.inputs.resume(q)
	if !q.typed {
		// Input waited for the settling: it comes now.
		q.typ()
		q.typed = true
	}
	if got := sentInput(t, p); !slices.Equal(got, []uint64{2, 3, 4}) {
		t.Errorf("the new link gets %v, want 2 3 4, each once", got)
	}
	if got := keptSeqs(p); !slices.Equal(got, []uint64{2, 3, 4}) {
		t.Errorf("kept %v, want 2 3 4", got)
	}
}

// TestResumeWithoutAKnownReceipt: a host that lost its receipt, or a link
// without a Configure before it (or one made over a live link), says
// nothing of what the dead host took: nothing already sent is sent again,
// and every session with input sent but not finished is told.
func TestResumeWithoutAKnownReceipt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		offer func(p *Portal)
	}{
		{"unknown receipt", func(p *Portal) {
			p.inputs.offerReceipt(&portalpb.InputReceipt{Received: 0, Known: false}, false)
		}},
		{"no configure", func(*Portal) {}},
		{"configure over a live link", func(p *Portal) {
			p.inputs.offerReceipt(&portalpb.InputReceipt{Received: 0, Known: true}, true)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ackingPortal(t)
			a := newFakeConn()
			sa := typed(t, p, a, "1", "2")
			sentInput(t, p)
			sa.DataIn(Text("3")) // queued
			tc.offer(p)
			p.resumeInput()
			if got := wait(t, a.sends, "a told").msgs; got[0].Args[0] != MsgMayNotHaveRun {
				t.Errorf("told %v", got)
			}
			none(t, a.sends, "second message")
			if got := sentInput(t, p); !slices.Equal(got, []uint64{3}) {
				t.Errorf("the new link gets %v, want only the queued 3", got)
			}
		})
	}
}

// TestResumeOnDataLink: a data socket connection settles the kept input
// as a Link stream does, before anything goes out on it: input a host
// that died had not received is the first thing the new host reads.
func TestResumeOnDataLink(t *testing.T) {
	s := NewServer(newTestPlugin(), discardLog())
	defer s.Close()
	p := s.portal
	p.grant(1, 1<<40)
	p.keys.unlinked = true
	p.inputs.offerReceipt(&portalpb.InputReceipt{Known: true}, false)
	p.resumeInput()
	a := newFakeConn()
	typed(t, p, a, "1", "2")
	if got := sentInput(t, p); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("sent %v", got)
	}
	// The new host's Configure says the dead one received input 1 only.
	p.inputs.offerReceipt(&portalpb.InputReceipt{Received: 1, Known: true}, false)
	hostSide, pluginSide := net.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		s.serveDataLink(pluginSide, wire.NewFrameReader(pluginSide))
	}()
	_ = hostSide.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, body, err := wire.NewFrameReader(hostSide).Next()
	if err != nil {
		t.Fatal(err)
	}
	if typ != wire.FrameEvents {
		t.Fatalf("first frame %v, want events", typ)
	}
	evs, err := wire.ParseEvents(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].GetDataIn().GetSeq() != 2 {
		t.Errorf("the data link's first events are %v, want input 2 sent again", evs)
	}
	hostSide.Close()
	<-served
}
