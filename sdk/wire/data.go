package wire

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// Data frames (data link version 2). Most of the link's traffic is input
// and output whose messages carry only string arguments (a line typed, a
// line to show). Carried as protobuf, each one costs its reader a
// portalpb.Frame, Event, DataIn or DataOut and Message, and then the
// contract's messages built from those: most of the CPU the link's
// encoding takes. A data frame carries such events in a plain encoding
// that its reader turns straight into the contract's messages. Every other
// event, and data whose messages have keyword arguments or non-string
// arguments, still travels in an events frame; the two kinds of frame
// interleave in the order their events were put.
//
// A data frame's body is one or more entries:
//
//	data in:  0x01 | sessid | seq | messages
//	data out: 0x02 | count | count × sessid | messages
//	messages: count | count × (name | argument count | arguments)
//
// where every number is an unsigned varint and every string (a name, an
// argument) is its length as a varint and its bytes, which must be UTF-8
// as protobuf's strings must.

// FrameData is the type byte of a data frame (data link version 2).
const FrameData FrameType = 5

// The entry kinds of a data frame.
const (
	dataIn  byte = 1
	dataOut byte = 2
)

// DataVersion is the first data link version that knows data frames.
const DataVersion = 2

// DataEvent is one entry of a data frame: input of one session (Out
// false: Sessid, Seq) or output to some (Out true: Sessids).
type DataEvent struct {
	// Out is set for output (host to plugin), clear for input.
	Out bool
	// Sessid is the session the input came from.
	Sessid uint64
	// Seq is the input's number (DataIn.seq), 0 when not numbered.
	Seq uint64
	// Sessids are the sessions the output goes to.
	Sessids []uint64
	// Messages are the input's or output's messages, as MessagesFromPB
	// would give them.
	Messages []contract.Message
}

// plainData reports whether ev is input or output a data frame can carry
// (every message's arguments are strings and it has no keyword arguments,
// all of it valid UTF-8), and the size of its entry.
func plainData(ev *portalpb.Event) (int, bool) {
	switch k := ev.GetKind().(type) {
	case *portalpb.Event_DataIn:
		d := k.DataIn
		n, ok := plainMessages(d.GetMessages())
		return 1 + uvarintLen(d.GetSessid()) + uvarintLen(d.GetSeq()) + n, ok
	case *portalpb.Event_DataOut:
		d := k.DataOut
		n, ok := plainMessages(d.GetMessages())
		n += 1 + uvarintLen(uint64(len(d.GetSessids())))
		for _, id := range d.GetSessids() {
			n += uvarintLen(id)
		}
		return n, ok
	}
	return 0, false
}

// plainMessages reports whether every message has only string arguments
// (str_args) and no keyword arguments, all valid UTF-8, and their size
// encoded.
func plainMessages(ms []*portalpb.Message) (int, bool) {
	n := uvarintLen(uint64(len(ms)))
	for _, m := range ms {
		if len(m.GetArgsJson()) > 0 || len(m.GetKwargsJson()) > 0 || !utf8.ValidString(m.GetName()) {
			return 0, false
		}
		n += stringLen(m.GetName()) + uvarintLen(uint64(len(m.GetStrArgs())))
		for _, a := range m.GetStrArgs() {
			if !utf8.ValidString(a) {
				return 0, false
			}
			n += stringLen(a)
		}
	}
	return n, true
}

// plainContract is plainMessages for the contract's messages: every
// argument a string, no keyword arguments, all valid UTF-8.
func plainContract(ms []contract.Message) (int, bool) {
	n := uvarintLen(uint64(len(ms)))
	for _, m := range ms {
		if len(m.Kwargs) > 0 || !utf8.ValidString(m.Name) {
			return 0, false
		}
		n += stringLen(m.Name) + uvarintLen(uint64(len(m.Args)))
		for _, a := range m.Args {
			s, ok := a.(string)
			if !ok || !utf8.ValidString(s) {
				return 0, false
			}
			n += stringLen(s)
		}
	}
	return n, true
}

// plain reports whether a data frame can carry ev, and its entry's size.
func (ev *DataEvent) plain() (int, bool) {
	n, ok := plainContract(ev.Messages)
	if !ev.Out {
		return 1 + uvarintLen(ev.Sessid) + uvarintLen(ev.Seq) + n, ok
	}
	n += 1 + uvarintLen(uint64(len(ev.Sessids)))
	for _, id := range ev.Sessids {
		n += uvarintLen(id)
	}
	return n, ok
}

// appendTo appends ev, which plain accepted with entry size n, as a data
// frame of one entry: the bytes appendDataFrame makes of ev.PB().
func (ev *DataEvent) appendTo(b []byte, n int) []byte {
	b = appendHeader(b, FrameData, n)
	if ev.Out {
		b = append(b, dataOut)
		b = binary.AppendUvarint(b, uint64(len(ev.Sessids)))
		for _, id := range ev.Sessids {
			b = binary.AppendUvarint(b, id)
		}
	} else {
		b = append(b, dataIn)
		b = binary.AppendUvarint(b, ev.Sessid)
		b = binary.AppendUvarint(b, ev.Seq)
	}
	b = binary.AppendUvarint(b, uint64(len(ev.Messages)))
	for _, m := range ev.Messages {
		b = appendDataString(b, m.Name)
		b = binary.AppendUvarint(b, uint64(len(m.Args)))
		for _, a := range m.Args {
			b = appendDataString(b, a.(string))
		}
	}
	return b
}

// appendDataFrame appends ev, which plainData accepted with entry size n,
// as a data frame of one entry.
func appendDataFrame(b []byte, ev *portalpb.Event, n int) []byte {
	b = appendHeader(b, FrameData, n)
	var ms []*portalpb.Message
	switch k := ev.GetKind().(type) {
	case *portalpb.Event_DataIn:
		b = append(b, dataIn)
		b = binary.AppendUvarint(b, k.DataIn.GetSessid())
		b = binary.AppendUvarint(b, k.DataIn.GetSeq())
		ms = k.DataIn.GetMessages()
	case *portalpb.Event_DataOut:
		b = append(b, dataOut)
		ids := k.DataOut.GetSessids()
		b = binary.AppendUvarint(b, uint64(len(ids)))
		for _, id := range ids {
			b = binary.AppendUvarint(b, id)
		}
		ms = k.DataOut.GetMessages()
	}
	b = binary.AppendUvarint(b, uint64(len(ms)))
	for _, m := range ms {
		b = appendDataString(b, m.GetName())
		b = binary.AppendUvarint(b, uint64(len(m.GetStrArgs())))
		for _, a := range m.GetStrArgs() {
			b = appendDataString(b, a)
		}
	}
	return b
}

// AppendFrames appends evs in order for a data link of version version:
// from DataVersion on, plain input and output as data frames and runs of
// other events as events frames; before it, one events frame. On an error
// b is returned as it was.
func AppendFrames(b []byte, version byte, evs ...*portalpb.Event) ([]byte, error) {
	if version < DataVersion {
		return AppendEvents(b, evs...)
	}
	sizes := make([]int, len(evs))
	for i, ev := range evs {
		sizes[i] = proto.Size(ev)
	}
	return appendFrames(b, sizes, evs)
}

// PB returns ev as the event an events frame carries.
func (ev DataEvent) PB() (*portalpb.Event, error) {
	if !ev.Out {
		return DataInToPB(ev.Sessid, ev.Seq, ev.Messages)
	}
	pms, err := MessagesToPB(ev.Messages)
	if err != nil {
		return nil, err
	}
	return &portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: ev.Sessids, Messages: pms}}}, nil
}

// ParseData reads a data frame's body, calling fn with each entry in
// order; it stops at fn's first error and returns it. A malformed body
// gives ErrBadFrame, after fn has seen the entries before the fault.
func ParseData(body []byte, fn func(DataEvent) error) error {
	d := dataDecoder{b: body}
	for len(d.b) > 0 {
		ev, err := d.event()
		if err != nil {
			return fmt.Errorf("%w: data: %w", ErrBadFrame, err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

// dataDecoder reads a data frame's entries from b.
type dataDecoder struct{ b []byte }

func (d *dataDecoder) event() (DataEvent, error) {
	var ev DataEvent
	kind := d.b[0]
	d.b = d.b[1:]
	var err error
	switch kind {
	case dataIn:
		if ev.Sessid, err = d.uvarint(); err == nil {
			ev.Seq, err = d.uvarint()
		}
	case dataOut:
		ev.Out = true
		ev.Sessids, err = d.sessids()
	default:
		return ev, fmt.Errorf("entry kind %d", kind)
	}
	if err == nil {
		ev.Messages, err = d.messages()
	}
	return ev, err
}

func (d *dataDecoder) sessids() ([]uint64, error) {
	// Every number takes at least a byte: a count past what is left is a
	// lie, refused before anything is allocated for it.
	n, err := d.count(1)
	if err != nil || n == 0 {
		return nil, err
	}
	ids := make([]uint64, n)
	for i := range ids {
		if ids[i], err = d.uvarint(); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func (d *dataDecoder) messages() ([]contract.Message, error) {
	n, err := d.count(2) // a name and an argument count, a byte each at least
	if err != nil {
		return nil, err
	}
	// Empty, not nil, as MessagesFromPB gives it (an empty slice is not
	// allocated).
	ms := make([]contract.Message, n)
	for i := range ms {
		m := &ms[i]
		if m.Name, err = d.name(); err != nil {
			return nil, err
		}
		args, err := d.count(1)
		if err != nil {
			return nil, err
		}
		if args == 0 {
			continue
		}
		m.Args = make([]any, args)
		for j := range m.Args {
			s, err := d.string()
			if err != nil {
				return nil, err
			}
			m.Args[j] = s
		}
	}
	return ms, nil
}

// count reads a count of items that take at least min bytes each.
func (d *dataDecoder) count(min int) (int, error) {
	n, err := d.uvarint()
	if err != nil {
		return 0, err
	}
	if n > uint64(len(d.b)/min) {
		return 0, fmt.Errorf("a count of %d with %d bytes left", n, len(d.b))
	}
	return int(n), nil
}

func (d *dataDecoder) uvarint() (uint64, error) {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		return 0, fmt.Errorf("bad varint")
	}
	d.b = d.b[n:]
	return v, nil
}

// name reads a message's name; the usual one is not allocated again.
func (d *dataDecoder) name() (string, error) {
	b, err := d.bytes()
	if err != nil {
		return "", err
	}
	if string(b) == "text" {
		return "text", nil
	}
	return string(b), nil
}

func (d *dataDecoder) string() (string, error) {
	b, err := d.bytes()
	return string(b), err
}

// bytes reads a string's bytes, checked for UTF-8.
func (d *dataDecoder) bytes() ([]byte, error) {
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.b)) {
		return nil, fmt.Errorf("a string of %d bytes with %d left", n, len(d.b))
	}
	b := d.b[:n]
	d.b = d.b[n:]
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("a string that is not UTF-8")
	}
	return b, nil
}

func appendDataString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func stringLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
