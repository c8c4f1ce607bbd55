package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// dataOutPB is output as the host's link adapter builds it.
func dataOutPB(t testing.TB, ids []uint64, msgs ...contract.Message) *portalpb.Event {
	t.Helper()
	ev, err := DataEvent{Out: true, Sessids: ids, Messages: msgs}.PB()
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func dataInPB(t testing.TB, id, seq uint64, msgs ...contract.Message) *portalpb.Event {
	t.Helper()
	ev, err := DataInToPB(id, seq, msgs)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// fromPB is what a reader of ev in an events frame hands on: the same
// DataEvent a data frame must give.
func fromPB(t testing.TB, ev *portalpb.Event) DataEvent {
	t.Helper()
	if out := ev.GetDataOut(); out != nil {
		msgs, err := MessagesFromPB(out.GetMessages())
		if err != nil {
			t.Fatal(err)
		}
		return DataEvent{Out: true, Sessids: out.GetSessids(), Messages: msgs}
	}
	id, seq, msgs, err := DataInFromPB(ev.GetDataIn())
	if err != nil {
		t.Fatal(err)
	}
	return DataEvent{Sessid: id, Seq: seq, Messages: msgs}
}

// plainEvents are input and output a data frame carries.
func plainEvents(t testing.TB) []*portalpb.Event {
	return []*portalpb.Event{
		dataInPB(t, 1, 1, contract.Text("look")),
		dataInPB(t, 1<<40, 1<<62, contract.Text("say héllo ☃"), contract.Message{Name: "unknown"}),
		dataInPB(t, 7, 0, contract.Message{Name: "client_gauge", Args: []any{"a", "", "c"}}),
		dataInPB(t, 8, 3),
		dataOutPB(t, []uint64{5}, contract.Text("pong 1")),
		dataOutPB(t, []uint64{1, 2, 300, 1 << 50}, contract.Text(strings.Repeat("x", 300)), contract.Text("")),
		dataOutPB(t, nil, contract.Text("nobody")),
	}
}

// readData reads frames from r until n input or output events have
// come, and returns them with the frame types they came in.
func readData(t *testing.T, r *FrameReader, n int) ([]DataEvent, []FrameType) {
	t.Helper()
	var got []DataEvent
	var types []FrameType
	for len(got) < n {
		typ, body, err := r.Next()
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		types = append(types, typ)
		switch typ {
		case FrameData:
			if err := ParseData(body, func(ev DataEvent) error { got = append(got, ev); return nil }); err != nil {
				t.Fatal(err)
			}
		case FrameEvents:
			evs, err := ParseEvents(body)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				got = append(got, fromPB(t, ev))
			}
		default:
			t.Fatalf("a %v frame", typ)
		}
	}
	return got, types
}

// putAndRead puts evs on an outbox attached to a link of version v, and
// reads them at the other end.
func putAndRead(t *testing.T, v byte, evs []*portalpb.Event) ([]DataEvent, []FrameType) {
	t.Helper()
	a, b := socketPair(t, 0)
	w := NewFrameWriter(a, WriterOptions{Version: v})
	o := NewOutbox(0)
	if err := o.Attach(w); err != nil {
		t.Fatal(err)
	}
	if err := o.Put(evs...); err != nil {
		t.Fatal(err)
	}
	_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := NewFrameReader(b)
	r.Agree(v)
	return readData(t, r, len(evs))
}

// On a version 2 link, plain input and output travel as data frames and
// read back as exactly what the events frame gave: the same sessions,
// numbers and messages (nil Args without arguments, nil Kwargs).
func TestDataFramesMatchEventsFrames(t *testing.T) {
	evs := plainEvents(t)
	got, types := putAndRead(t, 2, evs)
	for i, typ := range types {
		if typ != FrameData {
			t.Fatalf("frame %d is %v, want data", i, typ)
		}
	}
	for i, ev := range evs {
		if want := fromPB(t, ev); !reflect.DeepEqual(got[i], want) {
			t.Errorf("event %d: data frame gave %+v, events frame %+v", i, got[i], want)
		}
	}
}

// What a data frame cannot carry (keyword arguments, arguments that are
// not strings, text that is not UTF-8, any other event) goes in events
// frames, in order with the data frames around it; a version 1 link gets
// events frames only.
func TestDataFramesOnlyForPlainDataOnVersion2(t *testing.T) {
	other := []*portalpb.Event{
		dataOutPB(t, []uint64{1}, contract.Message{Name: "text", Args: []any{"hi"}, Kwargs: map[string]any{"options": map[string]any{"raw": true}}}),
		dataInPB(t, 2, 4, contract.Message{Name: "gmcp", Args: []any{int64(3), "x"}}),
		{Kind: &portalpb.Event_Disconnected{Disconnected: &portalpb.Disconnected{Sessid: 9, Reason: "bye"}}},
	}
	notUTF8 := &portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: []uint64{3},
		Messages: []*portalpb.Message{{Name: "text", StrArgs: []string{"\xff"}}}}}}
	if _, ok := plainData(notUTF8); ok {
		t.Error("text that is not UTF-8 would go in a data frame")
	}
	plain := plainEvents(t)
	mixed := []*portalpb.Event{plain[0], other[0], other[1], plain[4], other[2], plain[5]}
	wantTypes := map[byte][]FrameType{
		1: {FrameEvents},
		2: {FrameData, FrameEvents, FrameData, FrameEvents, FrameData},
	}
	for _, v := range []byte{1, 2} {
		got, types := putAndRead(t, v, mixed)
		if !reflect.DeepEqual(types, wantTypes[v]) {
			t.Errorf("version %d: frames %v, want %v", v, types, wantTypes[v])
		}
		for i, ev := range mixed {
			if _, ok := ev.Kind.(*portalpb.Event_Disconnected); ok {
				continue
			}
			if want := fromPB(t, ev); !reflect.DeepEqual(got[i], want) {
				t.Errorf("version %d, event %d: %+v, want %+v", v, i, got[i], want)
			}
		}
	}
}

// A reader of a version 1 link ends it at a data frame: its peer speaks a
// framing the hellos did not agree on.
func TestDataFrameRefusedOnVersion1(t *testing.T) {
	b := appendDataFrame(nil, plainEvents(t)[0], mustPlain(t, plainEvents(t)[0]))
	r := NewFrameReader(bytes.NewReader(b))
	if _, _, err := r.Next(); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("version 1 reader: %v, want ErrBadFrame", err)
	}
	r = NewFrameReader(bytes.NewReader(b))
	r.Agree(2)
	if typ, _, err := r.Next(); err != nil || typ != FrameData {
		t.Fatalf("version 2 reader: %v %v", typ, err)
	}
}

func mustPlain(t testing.TB, ev *portalpb.Event) int {
	t.Helper()
	n, ok := plainData(ev)
	if !ok {
		t.Fatalf("%v is not plain", ev)
	}
	return n
}

// Malformed data frame bodies are refused with ErrBadFrame, each with the
// entries before the fault handed on and nothing after it.
func TestParseDataRefusesMalformed(t *testing.T) {
	good := appendDataFrame(nil, plainEvents(t)[0], mustPlain(t, plainEvents(t)[0]))[frameHeader:]
	for name, body := range map[string][]byte{
		"unknown kind":             {9, 1, 1, 0},
		"cut in a varint":          {1, 0x80},
		"no messages count":        {1, 1, 1},
		"more messages than bytes": {1, 1, 1, 5, 0, 0},
		"more sessions than bytes": {2, 200, 1},
		"a string past the end":    {1, 1, 1, 1, 10, 't'},
		"a name not UTF-8":         {1, 1, 1, 1, 1, 0xff, 0},
		"an argument not UTF-8":    {2, 1, 1, 1, 1, 't', 1, 2, 0xc3, 0x28},
		"a varint too long":        {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		t.Run(name, func(t *testing.T) {
			seen := 0
			err := ParseData(append(bytes.Clone(good), body...), func(DataEvent) error { seen++; return nil })
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("%v, want ErrBadFrame", err)
			}
			if seen != 1 {
				t.Fatalf("%d entries handed on, want the 1 before the fault", seen)
			}
		})
	}
	stop := errors.New("stop")
	if err := ParseData(append(bytes.Clone(good), good...), func(DataEvent) error { return stop }); err != stop {
		t.Fatalf("the callback's error: %v", err)
	}
}

// FuzzParseData: a data frame's body never panics its reader, and what it
// reads encodes back (through the protobuf messages the events frame would
// carry) to a body that reads the same.
func FuzzParseData(f *testing.F) {
	for _, ev := range plainEvents(f) {
		n, _ := plainData(ev)
		f.Add(appendDataFrame(nil, ev, n)[frameHeader:])
	}
	f.Add([]byte{1, 0x80})
	f.Add([]byte{2, 200, 1})
	f.Add([]byte{1, 1, 1, 1, 10, 't'})
	f.Fuzz(func(t *testing.T, body []byte) {
		var evs []DataEvent
		if ParseData(body, func(ev DataEvent) error { evs = append(evs, ev); return nil }) != nil {
			return
		}
		for _, ev := range evs {
			var pe *portalpb.Event
			if ev.Out {
				pe = dataOutPB(t, ev.Sessids, ev.Messages...)
			} else {
				pe = dataInPB(t, ev.Sessid, ev.Seq, ev.Messages...)
			}
			if !reflect.DeepEqual(fromPB(t, pe), ev) {
				t.Fatalf("%+v does not survive protobuf", ev)
			}
			n, ok := plainData(pe)
			if !ok {
				t.Fatalf("%+v read from a data frame is not plain", ev)
			}
			b := appendDataFrame(nil, pe, n)
			if len(b)-frameHeader != n {
				t.Fatalf("entry of %d bytes, sized %d", len(b)-frameHeader, n)
			}
			if err := ParseData(b[frameHeader:], func(got DataEvent) error {
				if !reflect.DeepEqual(got, ev) {
					t.Fatalf("%+v reads back as %+v", ev, got)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// PutData writes the bytes Put writes for the same event, with no
// protobuf message built; it refuses (ErrNotData, nothing put) what a data
// frame cannot carry or a link that does not know data frames, refuses
// what passes MaxEventBytes, and queues what a stopped link refuses.
func TestPutData(t *testing.T) {
	readBack := func(t *testing.T, v byte, put func(o *Outbox) error) []byte {
		t.Helper()
		a, b := socketPair(t, 0)
		o := NewOutbox(0)
		if err := o.Attach(NewFrameWriter(a, WriterOptions{Version: v})); err != nil {
			t.Fatal(err)
		}
		if err := put(o); err != nil {
			t.Fatal(err)
		}
		a.Close()
		_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(b)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for i, pe := range plainEvents(t) {
		ev := fromPB(t, pe)
		viaPut := readBack(t, 2, func(o *Outbox) error { return o.Put(pe) })
		var n int
		viaData := readBack(t, 2, func(o *Outbox) (err error) { n, err = o.PutData(ev); return err })
		if !bytes.Equal(viaPut, viaData) || n != len(viaData)-frameHeader {
			t.Errorf("event %d: PutData wrote % x (size %d), Put % x", i, viaData, n, viaPut)
		}
	}

	plain := fromPB(t, plainEvents(t)[4])
	a, _ := socketPair(t, 0)
	w1 := NewFrameWriter(a, WriterOptions{Version: 1})
	o := NewOutbox(0)
	if _, err := o.PutData(plain); !errors.Is(err, ErrNotData) {
		t.Errorf("no link: %v, want ErrNotData", err)
	}
	if err := o.Attach(w1); err != nil {
		t.Fatal(err)
	}
	if _, err := o.PutData(plain); !errors.Is(err, ErrNotData) {
		t.Errorf("version 1 link: %v, want ErrNotData", err)
	}
	kw := plain
	kw.Messages = []contract.Message{{Name: "text", Args: []any{"x"}, Kwargs: map[string]any{"raw": true}}}
	notString := plain
	notString.Messages = []contract.Message{{Name: "text", Args: []any{1.5}}}
	big := plain
	big.Messages = []contract.Message{contract.Text(strings.Repeat("x", MaxEventBytes))}

	c, _ := socketPair(t, 0)
	w2 := NewFrameWriter(c, WriterOptions{Version: 2})
	o = NewOutbox(0)
	if err := o.Attach(w2); err != nil {
		t.Fatal(err)
	}
	for name, ev := range map[string]DataEvent{"keyword arguments": kw, "a number": notString} {
		if _, err := o.PutData(ev); !errors.Is(err, ErrNotData) {
			t.Errorf("%s: %v, want ErrNotData", name, err)
		}
	}
	if _, err := o.PutData(big); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("too large: %v, want ErrEventTooLarge", err)
	}
	if w2.Backlog() != 0 || o.Len() != 0 {
		t.Fatalf("refused events were put: backlog %d, queued %d", w2.Backlog(), o.Len())
	}
	if err := w2.Stop(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := o.PutData(plain); err != nil || o.Len() != 1 {
		t.Fatalf("a stopped link's output: %v, %d queued, want 1", err, o.Len())
	}
}
