package wire

import (
	"slices"
	"testing"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// TestInputAckFinished: what an ack says is finished, including a list
// cut short (the seqs above its last entry are not known).
func TestInputAckFinished(t *testing.T) {
	a := InputAck{Received: 10, Handled: 3, Unfinished: []uint64{5, 8}}
	cut := InputAck{Received: 10, Handled: 3, Unfinished: []uint64{5, 8}, Truncated: true}
	for _, tc := range []struct {
		seq           uint64
		finished, cut bool
	}{
		{1, true, true}, {3, true, true}, {4, true, true}, {5, false, false}, {6, true, true},
		{8, false, false}, {9, true, false}, {10, true, false}, {11, false, false},
	} {
		if got := a.Finished(tc.seq); got != tc.finished {
			t.Errorf("Finished(%d) = %v, want %v", tc.seq, got, tc.finished)
		}
		if got := cut.Finished(tc.seq); got != tc.cut {
			t.Errorf("truncated: Finished(%d) = %v, want %v", tc.seq, got, tc.cut)
		}
	}
}

// TestInputAckFromPBDistrustsNonsense: an ack that contradicts itself is
// read as no more than it can be trusted to say.
func TestInputAckFromPBDistrustsNonsense(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *portalpb.InputAck
		want InputAck
	}{
		{"fine", &portalpb.InputAck{Received: 9, Handled: 2, Unfinished: []uint64{4, 7}},
			InputAck{Received: 9, Handled: 2, Unfinished: []uint64{4, 7}}},
		{"handled above received", &portalpb.InputAck{Received: 5, Handled: 9},
			InputAck{Received: 5, Handled: 5}},
		{"out of order", &portalpb.InputAck{Received: 9, Handled: 2, Unfinished: []uint64{7, 4}},
			InputAck{Received: 9, Handled: 2, Unfinished: []uint64{7}, Truncated: true}},
		{"at or below handled", &portalpb.InputAck{Received: 9, Handled: 2, Unfinished: []uint64{2, 4}},
			InputAck{Received: 9, Handled: 2, Truncated: true}},
		{"above received", &portalpb.InputAck{Received: 9, Handled: 2, Unfinished: []uint64{4, 12}},
			InputAck{Received: 9, Handled: 2, Unfinished: []uint64{4}, Truncated: true}},
	} {
		got := InputAckFromPB(tc.in)
		if got.Received != tc.want.Received || got.Handled != tc.want.Handled ||
			!slices.Equal(got.Unfinished, tc.want.Unfinished) || got.Truncated != tc.want.Truncated {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
		if back := InputAckFromPB(InputAckToPB(got).GetInputAck()); !slices.Equal(back.Unfinished, got.Unfinished) ||
			back.Received != got.Received || back.Handled != got.Handled || back.Truncated != got.Truncated {
			t.Errorf("%s: round trip %+v, want %+v", tc.name, back, got)
		}
	}
}

// TestDataInRoundTrip: input and its number survive the wire.
func TestDataInRoundTrip(t *testing.T) {
	ev, err := DataInToPB(7, 42, []contract.Message{contract.Text("look")})
	if err != nil {
		t.Fatal(err)
	}
	id, seq, msgs, err := DataInFromPB(ev.GetDataIn())
	if err != nil || id != 7 || seq != 42 || len(msgs) != 1 {
		t.Fatalf("got %d %d %v %v", id, seq, msgs, err)
	}
	if s, _ := msgs[0].FirstString(); s != "look" {
		t.Errorf("text %q", s)
	}
	if r, ok := ReceiptFromPB(ReceiptToPB(Receipt{Received: 9, Known: true})); !ok || r != (Receipt{Received: 9, Known: true}) {
		t.Errorf("receipt round trip: %+v %v", r, ok)
	}
	if _, ok := ReceiptFromPB(nil); ok {
		t.Error("no receipt read as one")
	}
}

// TestOutboxPutFrontAndHolds: events put back go ahead of what waits, in
// order, and Holds tells queued events from others.
func TestOutboxPutFrontAndHolds(t *testing.T) {
	o := NewOutbox(2)
	evs := make([]*portalpb.Event, 4)
	for i := range evs {
		evs[i] = &portalpb.Event{Kind: &portalpb.Event_DataIn{DataIn: &portalpb.DataIn{Seq: uint64(i + 1)}}}
	}
	if err := o.Put(evs[2], evs[3]); err != nil {
		t.Fatal(err)
	}
	holds := o.Holds()
	if holds(evs[0]) || !holds(evs[2]) || !holds(evs[3]) {
		t.Error("Holds is wrong")
	}
	o.PutFront(evs[0], evs[1]) // past the bound: they were taken once
	var seqs []uint64
	if err := o.Flush(func(f *portalpb.Frame) error {
		for _, ev := range f.GetEvents() {
			seqs = append(seqs, ev.GetDataIn().GetSeq())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs, []uint64{1, 2, 3, 4}) {
		t.Errorf("order %v", seqs)
	}
}
