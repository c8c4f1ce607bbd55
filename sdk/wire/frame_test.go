package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"google.golang.org/protobuf/proto"

	"github.com/portico-mud/portico/sdk/portalpb"
)

// unhex decodes hex with spaces, for byte-exact expectations.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFrameBytes(t *testing.T) {
	secret := bytes.Repeat([]byte{0xab}, SecretSize)
	textIn := &portalpb.Event{Kind: &portalpb.Event_DataIn{DataIn: &portalpb.DataIn{Sessid: 5,
		Messages: []*portalpb.Message{{Name: "text", StrArgs: []string{"hi"}}}}}}
	events, err := AppendEvents(nil, textIn)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		// Length 34: the type, the version and 32 bytes of secret.
		{"host hello", AppendHello(nil, 1, secret), "00000022 01 01" + strings.Repeat("ab", SecretSize)},
		{"plugin hello", AppendHello(nil, 1, nil), "00000002 01 01"},
		{"ping", AppendPing(nil, 0x0102030405060708), "00000009 03 0102030405060708"},
		{"pong", AppendPong(nil, 7), "00000009 04 0000000000000007"},
		// Frame{events: [Event{data_in(2): DataIn{sessid: 5, messages:
		// [Message{name: "text", str_args: ["hi"]}]}}]}.
		{"events", events, "00000013 02" + "0a10" + "120e" + "0805" + "120a" + "0a0474657874" + "12026869"},
		{"no events", mustEvents(t), "00000001 02"},
	} {
		if want := unhex(t, c.want); !bytes.Equal(c.got, want) {
			t.Errorf("%s: % x, want % x", c.name, c.got, want)
		}
	}
	// Appending keeps what was there.
	b := AppendPing([]byte("x"), 1)
	if b[0] != 'x' || len(b) != 1+frameHeader+8 {
		t.Errorf("AppendPing after a byte: % x", b)
	}
}

func mustEvents(t *testing.T, evs ...*portalpb.Event) []byte {
	t.Helper()
	b, err := AppendEvents(nil, evs...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFrameReaderRoundTrip(t *testing.T) {
	secret := bytes.Repeat([]byte{1}, SecretSize)
	var stream []byte
	stream = AppendHello(stream, DataLinkVersion, secret)
	stream = append(stream, mustEvents(t, ev(1), ev(2))...)
	stream = AppendPing(stream, 9)
	stream = AppendPong(stream, 9)
	// One byte at a time: frames split anywhere still read whole.
	r := NewFrameReader(iotest.OneByteReader(bytes.NewReader(stream)))
	typ, body, err := r.Next()
	if err != nil || typ != FrameHello {
		t.Fatalf("first frame: %v %v", typ, err)
	}
	v, got, err := ParseHello(body)
	if err != nil || v != DataLinkVersion || CheckSecret(got, secret) != nil {
		t.Fatalf("hello: version %d secret %x err %v", v, got, err)
	}
	typ, body, err = r.Next()
	if err != nil || typ != FrameEvents {
		t.Fatalf("second frame: %v %v", typ, err)
	}
	evs, err := ParseEvents(body)
	if err != nil || len(evs) != 2 || evID(evs[0]) != 1 || evID(evs[1]) != 2 {
		t.Fatalf("events: %v %v", evs, err)
	}
	for _, want := range []FrameType{FramePing, FramePong} {
		typ, body, err = r.Next()
		if err != nil || typ != want {
			t.Fatalf("want %v: got %v %v", want, typ, err)
		}
		if n, err := ParseNonce(body); err != nil || n != 9 {
			t.Fatalf("%v nonce %d %v", want, n, err)
		}
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestFrameReaderRefuses(t *testing.T) {
	for _, c := range []struct {
		name  string
		input string
		want  error
	}{
		{"length 0", "00000000", ErrBadFrame},
		{"too large", "01000002 02", ErrFrameTooLarge},
		{"cut in the header", "000000", io.ErrUnexpectedEOF},
		{"cut before the type", "00000003", io.ErrUnexpectedEOF},
		{"cut in the body", "00000009 03 0102", io.ErrUnexpectedEOF},
	} {
		_, _, err := NewFrameReader(bytes.NewReader(unhex(t, c.input))).Next()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// The largest body allowed is read.
	big := appendHeader(nil, FrameEvents, MaxFrameBody)
	big = append(big, make([]byte, MaxFrameBody)...)
	if _, body, err := NewFrameReader(bytes.NewReader(big)).Next(); err != nil || len(body) != MaxFrameBody {
		t.Fatalf("a body of MaxFrameBody: %d bytes, %v", len(body), err)
	}
	if _, err := ParseNonce([]byte{1, 2, 3}); !errors.Is(err, ErrBadFrame) {
		t.Errorf("short nonce: %v", err)
	}
	if _, _, err := ParseHello(nil); !errors.Is(err, ErrBadFrame) {
		t.Errorf("empty hello: %v", err)
	}
	if _, err := ParseEvents([]byte{0xff}); !errors.Is(err, ErrBadFrame) {
		t.Errorf("bad events: %v", err)
	}
}

func TestCheckSecret(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, SecretSize)
	if err := CheckSecret(secret, secret); err != nil {
		t.Fatal(err)
	}
	wrong := bytes.Clone(secret)
	wrong[SecretSize-1]++
	for name, got := range map[string][]byte{"wrong": wrong, "short": secret[:8], "empty": nil} {
		if err := CheckSecret(got, secret); !errors.Is(err, ErrBadSecret) {
			t.Errorf("%s secret: %v", name, err)
		}
	}
	// A socket with no secret accepts none.
	if err := CheckSecret(nil, nil); !errors.Is(err, ErrBadSecret) {
		t.Errorf("no secret at all: %v", err)
	}
}

func TestAppendEventsTooLarge(t *testing.T) {
	huge := &portalpb.Event{Kind: &portalpb.Event_DataIn{DataIn: &portalpb.DataIn{
		Messages: []*portalpb.Message{{Name: "text", StrArgs: []string{strings.Repeat("x", MaxFrameBody)}}}}}}
	b, err := AppendEvents([]byte("keep"), huge)
	if !errors.Is(err, ErrFrameTooLarge) || string(b) != "keep" {
		t.Fatalf("too large: %q %v", b, err)
	}
}

// FuzzFrameReader feeds the frame reader what another process could send:
// it must never panic nor hand out a body over MaxFrameBody; every frame it
// returns is exactly the bytes it consumed (re-encoding the frame gives
// them back), the same whether the bytes come at once or one by one; and
// each known type's body either parses or is refused with an error, a
// parsed ping or pong encoding back to the same bytes.
func FuzzFrameReader(f *testing.F) {
	f.Add(AppendHello(nil, 1, bytes.Repeat([]byte{0xab}, SecretSize)))
	f.Add(AppendPing(AppendPong(nil, 3), 4))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 2})
	f.Add([]byte{0, 0, 0, 3, 9, 1, 2})
	f.Add(appendDataFrame(AppendPing(nil, 1), plainEvents(f)[5], mustPlain(f, plainEvents(f)[5])))
	f.Add([]byte{0, 0, 0, 9, byte(FrameData), dataOut, 0x81, 0, 5, 1, 1, 't', 0}) // a count of 1 in two bytes
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []byte{1, DataVersion} {
			fuzzFrames(t, data, v)
		}
	})
}

// fuzzFrames reads data as a link of version v would: at once and byte by
// byte alike, each frame's body read back as it encodes.
func fuzzFrames(t *testing.T, data []byte, v byte) {
	at := func(r io.Reader) *FrameReader {
		fr := NewFrameReader(r)
		fr.Agree(v)
		return fr
	}
	whole := readAll(t, at(bytes.NewReader(data)))
	byByte := readAll(t, at(iotest.OneByteReader(bytes.NewReader(data))))
	if len(whole) != len(byByte) {
		t.Fatalf("%d frames at once, %d byte by byte", len(whole), len(byByte))
	}
	var again []byte
	for i, fr := range whole {
		if fr.typ != byByte[i].typ || !bytes.Equal(fr.body, byByte[i].body) {
			t.Fatalf("frame %d differs when read byte by byte", i)
		}
		again = appendHeader(again, fr.typ, len(fr.body))
		again = append(again, fr.body...)
		checkBody(t, fr)
	}
	if !bytes.HasPrefix(data, again) {
		t.Fatalf("the frames read are not the bytes consumed")
	}
}

type readFrame struct {
	typ  FrameType
	body []byte
}

func readAll(t *testing.T, r *FrameReader) []readFrame {
	t.Helper()
	var out []readFrame
	for {
		typ, body, err := r.Next()
		if err != nil {
			return out
		}
		if len(body) > MaxFrameBody {
			t.Fatalf("a body of %d bytes", len(body))
		}
		out = append(out, readFrame{typ, bytes.Clone(body)})
	}
}

func checkBody(t *testing.T, fr readFrame) {
	t.Helper()
	switch fr.typ {
	case FrameHello:
		if _, _, err := ParseHello(fr.body); err == nil && CheckSecret(fr.body[1:], bytes.Repeat([]byte{0xab}, SecretSize)) == nil &&
			!bytes.Equal(fr.body[1:], bytes.Repeat([]byte{0xab}, SecretSize)) {
			t.Fatal("CheckSecret accepted another secret")
		}
	case FrameEvents:
		evs, err := ParseEvents(fr.body)
		if err != nil {
			return
		}
		b, err := AppendEvents(nil, evs...)
		if err != nil {
			return
		}
		again, err := ParseEvents(b[frameHeader:])
		if err != nil || !proto.Equal(&portalpb.Frame{Events: evs}, &portalpb.Frame{Events: again}) {
			t.Fatalf("events do not survive a round trip: %v", err)
		}
	case FrameData:
		var evs []DataEvent
		if ParseData(fr.body, func(ev DataEvent) error { evs = append(evs, ev); return nil }) != nil {
			return
		}
		var b []byte
		for _, ev := range evs {
			n, ok := ev.plain()
			if !ok {
				t.Fatalf("%+v read from a data frame is not plain", ev)
			}
			b = append(b, ev.appendTo(nil, n)[frameHeader:]...)
		}
		// The same entries, though not always the same bytes: a varint
		// may come longer than it needs to be.
		var again []DataEvent
		if err := ParseData(b, func(ev DataEvent) error { again = append(again, ev); return nil }); err != nil ||
			!reflect.DeepEqual(again, evs) {
			t.Fatalf("a data frame's entries %+v read back as %+v (%v)", evs, again, err)
		}
	case FramePing, FramePong:
		n, err := ParseNonce(fr.body)
		if err != nil {
			return
		}
		b := AppendPing(nil, n)
		if fr.typ == FramePong {
			b = AppendPong(nil, n)
		}
		if !bytes.Equal(b[frameHeader:], fr.body) || binary.BigEndian.Uint32(b) != uint32(len(fr.body)+1) {
			t.Fatalf("%v %d encodes as % x", fr.typ, n, b)
		}
	}
}
