package wire

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/portico-mud/portico/sdk/portalpb"
)

// sizedSamples are events of every shape Put writes: text in and out,
// several sessions, a sync with data, an empty event, a large one.
func sizedSamples() [][]*portalpb.Event {
	text := func(s string) []*portalpb.Message { return []*portalpb.Message{{Name: "text", StrArgs: []string{s}}} }
	in := &portalpb.Event{Kind: &portalpb.Event_DataIn{DataIn: &portalpb.DataIn{Sessid: 5, Seq: 300, Messages: text("hi")}}}
	out := &portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: []uint64{1, 2, 1 << 40},
		Messages: append(text("Hello there."), &portalpb.Message{Name: "prompt", ArgsJson: []byte(`[1,{"a":2}]`), KwargsJson: []byte(`{"k":"v"}`)})}}}
	big := &portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: []uint64{9},
		Messages: text(strings.Repeat("long line ", 20_000))}}}
	return [][]*portalpb.Event{
		{in}, {out}, {in, out, in}, {{}}, {big, in}, {},
	}
}

// TestSizedEventsBytes shows the encoding Put uses (each event with the
// size it was checked at) give the very bytes of AppendEvents, which is
// proto.Marshal of the Frame: the frame format does not change.
func TestSizedEventsBytes(t *testing.T) {
	for i, evs := range sizedSamples() {
		want, err := AppendEvents([]byte("x"), evs...)
		if err != nil {
			t.Fatal(err)
		}
		sizes := make([]int, len(evs))
		for j, ev := range evs {
			sizes[j] = proto.Size(ev)
		}
		got, err := appendSizedEvents([]byte("x"), sizes, evs)
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("sample %d: sized encoding differs from AppendEvents:\n got % x\nwant % x", i, got[:min(len(got), 64)], want[:min(len(want), 64)])
		}
		back, err := ParseEvents(got[1+frameHeader:])
		if err != nil || len(back) != len(evs) {
			t.Fatalf("sample %d: parse back: %d events, %v", i, len(back), err)
		}
		for j := range evs {
			if !proto.Equal(back[j], evs[j]) {
				t.Errorf("sample %d event %d: parsed back %v, want %v", i, j, back[j], evs[j])
			}
		}
	}
}

// TestSizedEventsChanged shows an event that changed after it was sized
// refused, with the buffer left as it was: its length prefix would be
// wrong and break the link for every session.
func TestSizedEventsChanged(t *testing.T) {
	ev := &portalpb.Event{Kind: &portalpb.Event_DataIn{DataIn: &portalpb.DataIn{Sessid: 5}}}
	sizes := []int{proto.Size(ev)}
	ev.GetDataIn().Sessid = 1 << 50
	got, err := appendSizedEvents([]byte("x"), sizes, []*portalpb.Event{ev})
	if err == nil {
		t.Fatal("an event changed after sizing was encoded")
	}
	if string(got) != "x" {
		t.Fatalf("buffer after the error: % x, want what it was", got)
	}
}

// BenchmarkPutEncode measures encoding one text event as Put does: sized
// to check its bound, then encoded (with the size cached) or, as before,
// sized again by the encoder.
func BenchmarkPutEncode(b *testing.B) {
	ev := &portalpb.Event{Kind: &portalpb.Event_DataIn{DataIn: &portalpb.DataIn{Sessid: 5, Seq: 300,
		Messages: []*portalpb.Message{{Name: "text", StrArgs: []string{"say hello there number 42"}}}}}}
	evs := []*portalpb.Event{ev}
	var buf []byte
	b.Run("sized", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sizes := []int{proto.Size(ev)}
			buf, _ = appendSizedEvents(buf[:0], sizes, evs)
		}
	})
	b.Run("again", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = proto.Size(ev)
			buf, _ = AppendEvents(buf[:0], evs...)
		}
	})
}
