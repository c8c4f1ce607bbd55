package plugins

import (
	"encoding/binary"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// ackLog collects the acks an inputAcks sends.
type ackLog struct {
	mu   sync.Mutex
	acks []wire.InputAck
	sent chan struct{}
}

func newAckLog() *ackLog { return &ackLog{sent: make(chan struct{}, 100)} }

func (l *ackLog) send(ev *portalpb.Event) {
	l.mu.Lock()
	l.acks = append(l.acks, wire.InputAckFromPB(ev.GetInputAck()))
	l.mu.Unlock()
	l.sent <- struct{}{}
}

func (l *ackLog) last(t *testing.T) wire.InputAck {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.acks) == 0 {
		t.Fatal("no ack sent")
	}
	return l.acks[len(l.acks)-1]
}

func sameAck(a, b wire.InputAck) bool {
	return a.Received == b.Received && a.Handled == b.Handled && slices.Equal(a.Unfinished, b.Unfinished) &&
		a.Truncated == b.Truncated
}

// TestInputAcksSayWhatIsFinished: input that finishes as it runs is
// acknowledged at once; input whose session waits on async work is listed
// unfinished until it comes back, in whatever order; input running when
// an ack is made is not finished; a list too long is cut and says so; a
// seq out of order is not followed.
func TestInputAcksSayWhatIsFinished(t *testing.T) {
	l := newAckLog()
	a := newInputAcks(10, l.send)
	a.delay = time.Hour // only the test's flushes send
	defer a.stop()
	sync := func(seq uint64) bool { return a.run(seq, func(finished func()) { finished() }) }
	var later []func()
	async := func(seq uint64) { a.run(seq, func(finished func()) { later = append(later, finished) }) }
	check := func(want wire.InputAck) {
		t.Helper()
		a.flush()
		if got := l.last(t); !sameAck(got, want) {
			t.Errorf("ack %+v, want %+v", got, want)
		}
	}

	sync(11)
	check(wire.InputAck{Received: 11, Handled: 11})
	async(12)
	sync(13)
	async(14)
	async(15)
	check(wire.InputAck{Received: 15, Handled: 11, Unfinished: []uint64{12, 14, 15}})
	later[2]() // 15 first
	check(wire.InputAck{Received: 15, Handled: 11, Unfinished: []uint64{12, 14}})
	later[0]() // 12
	check(wire.InputAck{Received: 15, Handled: 13, Unfinished: []uint64{14}})
	later[1]()
	check(wire.InputAck{Received: 15, Handled: 15})

	// An ack made while input runs does not count it finished.
	a.run(16, func(finished func()) {
		a.flush()
		finished()
	})
	if got := l.last(t); !sameAck(got, wire.InputAck{Received: 16, Handled: 15, Unfinished: []uint64{16}}) {
		t.Errorf("ack while 16 runs: %+v", got)
	}
	check(wire.InputAck{Received: 16, Handled: 16})

	if sync(16) || sync(3) {
		t.Error("a seq at or below the last was followed")
	}

	later = nil
	for seq := uint64(17); seq < 17+wire.MaxAckUnfinished+5; seq++ {
		async(seq)
	}
	a.flush()
	got := l.last(t)
	if !got.Truncated || len(got.Unfinished) != wire.MaxAckUnfinished || got.Unfinished[0] != 17 || got.Handled != 16 {
		t.Errorf("long list: handled %d, %d listed from %d, truncated %v", got.Handled, len(got.Unfinished),
			got.Unfinished[0], got.Truncated)
	}
	if got.Finished(17 + wire.MaxAckUnfinished + 2) {
		t.Error("a seq past the cut list reads as finished")
	}
}

// TestInputAcksBatched: acks are gathered — fifty inputs finished within
// one delay make one ack — and go out by themselves once the delay has
// passed; none goes out after stop.
func TestInputAcksBatched(t *testing.T) {
	l := newAckLog()
	a := newInputAcks(0, l.send)
	a.delay = time.Hour
	for seq := uint64(1); seq <= 50; seq++ {
		a.run(seq, func(finished func()) { finished() })
	}
	none := func(what string) {
		t.Helper()
		select {
		case <-l.sent:
			t.Errorf("an ack was sent %s", what)
		default:
		}
	}
	none("before the delay passed")
	a.flush()
	<-l.sent
	if got := l.last(t); !sameAck(got, wire.InputAck{Received: 50, Handled: 50}) {
		t.Errorf("ack %+v", got)
	}
	a.flush()
	none("when nothing changed")
	a.stop()

	b := newInputAcks(0, l.send)
	b.delay = time.Millisecond
	b.run(1, func(finished func()) { finished() })
	select {
	case <-l.sent:
	case <-time.After(10 * time.Second):
		t.Fatal("no ack sent once the delay passed")
	}
	if got := l.last(t); !sameAck(got, wire.InputAck{Received: 1, Handled: 1}) {
		t.Errorf("ack %+v", got)
	}
	b.stop()
	b.run(2, func(finished func()) { finished() })
	b.flush()
	none("after stop")
}

// TestReceiptFile: a fresh process's receipt starts at 0; what a run
// records is what the next host image reads; a damaged file is not
// trusted (unknown), and the record's removal takes the receipt with it.
func TestReceiptFile(t *testing.T) {
	m := socketTestManager(t, t.TempDir())
	r, received, known, err := m.openReceipt("telnet", true)
	if err != nil || received != 0 || !known {
		t.Fatalf("fresh: %d %v %v", received, known, err)
	}
	for _, seq := range []uint64{5, 3, 9} {
		r.record(seq)
	}
	// No close: the host dies here. The next image reads the file.
	r2, received, known, err := m.openReceipt("telnet", false)
	if err != nil || received != 9 || !known {
		t.Fatalf("reattached: %d %v %v, want 9 known", received, known, err)
	}
	if err := r2.close(); err != nil {
		t.Error(err)
	}
	if err := r.close(); err != nil {
		t.Error(err)
	}
	if info, err := os.Stat(m.receiptPath("telnet")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("receipt file: %v %v", info, err)
	}

	if err := os.WriteFile(m.receiptPath("telnet"), []byte("not a receipt at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	r3, received, known, err := m.openReceipt("telnet", false)
	if err != nil || received != 0 || known {
		t.Fatalf("damaged: %d %v %v, want 0 unknown", received, known, err)
	}
	if err := r3.close(); err != nil {
		t.Error(err)
	}
	m.removeRecord("telnet")
	if _, err := os.Stat(m.receiptPath("telnet")); !os.IsNotExist(err) {
		t.Errorf("receipt left after its record: %v", err)
	}
}

// TestInputRecordedBeforeItRuns: the link reader records input in the
// receipt before the input runs, so that a host that dies while it runs
// leaves a receipt covering it (and the plugin does not send it again),
// and acknowledges it once it has run.
func TestInputRecordedBeforeItRuns(t *testing.T) {
	g, _ := probeRig(t)
	r := g.runner("a", true)
	if r.startAcks(true) == nil {
		t.Fatal("no receipt")
	}
	defer r.endAcks()
	r.acks.delay = time.Hour // only the test's flush sends
	id := r.grants[0].Start
	g.connect(r, id)
	var onDisk []uint64
	g.h.RegisterInputfunc("peek", sessions.Inputfunc{Func: func(*sessions.ServerSessionHandler, *sessions.ServerSession, []any, map[string]any) {
		b, err := os.ReadFile(r.m.receiptPath("a"))
		if err != nil || len(b) != receiptSize {
			t.Errorf("receipt: %q %v", b, err)
			return
		}
		onDisk = append(onDisk, binary.NativeEndian.Uint64(b[8:]))
	}})
	f := &portalpb.Frame{}
	for seq := uint64(1); seq <= 3; seq++ {
		f.Events = append(f.Events, &portalpb.Event{Kind: &portalpb.Event_DataIn{DataIn: &portalpb.DataIn{
			Sessid: id, Seq: seq, Messages: []*portalpb.Message{{Name: "peek"}}}}})
	}
	r.handleFrame(t.Context(), f)
	if !slices.Equal(onDisk, []uint64{3, 3, 3}) {
		t.Errorf("the receipt held %v while the frame's input ran, want 3 each time", onDisk)
	}
	r.acks.flush()
	var acks []wire.InputAck
	if err := r.outbox.Flush(func(f *portalpb.Frame) error {
		for _, ev := range f.GetEvents() {
			if a := ev.GetInputAck(); a != nil {
				acks = append(acks, wire.InputAckFromPB(a))
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(acks) != 1 || !sameAck(acks[0], wire.InputAck{Received: 3, Handled: 3}) {
		t.Errorf("acks %+v, want one saying 1..3 finished", acks)
	}
}
