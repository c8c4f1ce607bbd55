package wire

import (
	"strconv"
	"testing"

	"github.com/portico-mud/portico/sdk/contract"

	"google.golang.org/protobuf/proto"

	"github.com/portico-mud/portico/sdk/portalpb"
)

// benchFrame is a Link frame as it looks under load: n sessions' text.
func benchFrame(b *testing.B, n int) *portalpb.Frame {
	b.Helper()
	f := &portalpb.Frame{}
	for i := range n {
		pm, err := MessageToPB(contract.Text("say hello there number " + strconv.Itoa(i)))
		if err != nil {
			b.Fatal(err)
		}
		f.Events = append(f.Events, &portalpb.Event{Kind: &portalpb.Event_DataIn{
			DataIn: &portalpb.DataIn{Sessid: uint64(i + 1), Messages: []*portalpb.Message{pm}}}})
	}
	return f
}

// BenchmarkFrameEncode measures marshalling a 100-event frame, what gRPC
// does for every Link send.
func BenchmarkFrameEncode(b *testing.B) {
	f := benchFrame(b, 100)
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		buf, err = proto.MarshalOptions{}.MarshalAppend(buf[:0], f)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkFrameDecode measures unmarshalling the same frame and turning
// its messages back into Messages, what the receiving side does.
func BenchmarkFrameDecode(b *testing.B) {
	raw, err := proto.Marshal(benchFrame(b, 100))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var f portalpb.Frame
		if err := proto.Unmarshal(raw, &f); err != nil {
			b.Fatal(err)
		}
		for _, ev := range f.Events {
			if _, err := MessagesFromPB(ev.GetDataIn().GetMessages()); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkMessageToPBText is the text fast path, once per line.
func BenchmarkMessageToPBText(b *testing.B) {
	m := contract.Text("You say, \"hello\"")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MessageToPB(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOutboxPutTake is queuing one event and taking it as a frame.
func BenchmarkOutboxPutTake(b *testing.B) {
	o := NewOutbox(0)
	ev := &portalpb.Event{Kind: &portalpb.Event_DataIn{DataIn: &portalpb.DataIn{Sessid: 1}}}
	b.ReportAllocs()
	for b.Loop() {
		_ = o.Put(ev)
		if o.take() == nil {
			b.Fatal("nothing taken")
		}
	}
}
