package wire

import (
	"bufio"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/portico-mud/portico/sdk/connio"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// The data link's frames. The Link's traffic (every Event of the contract,
// and the link's own pings) travels between host and plugin on a stream
// socket of its own (the plugin's data socket, ConfigureResponse.data_path)
// as frames:
//
//	+----------------+------+---------------------+
//	| length: uint32 | type | body: length-1 bytes |
//	| big-endian     | byte |                      |
//	+----------------+------+---------------------+
//
// length counts the type byte and the body, so it is at least 1 and at most
// 1+MaxFrameBody. The types:
//
//   - FrameHello: the first frame each way. From the host: the data link
//     version it speaks (one byte) and the plugin's secret (SecretSize
//     bytes), which the plugin checks in constant time before anything else;
//     from the plugin: the version both will speak (one byte).
//   - FrameEvents: proto.Marshal of a portalpb.Frame, the events in order.
//   - FramePing and FramePong: an 8-byte big-endian nonce; a pong answers
//     the ping with the same nonce (the host's liveness check).
//   - FrameData (version 2): input and output with plain messages, in an
//     encoding of their own (data.go).
//
// Version 1 knows the first four types, version 2 all five; a reader
// meeting another type ends the link, since its peer speaks a framing the
// hello did not agree on. Each side speaks the lower of the two versions.

// FrameType is the type byte of a data-link frame.
type FrameType byte

// The frame types of data link version 1.
const (
	FrameHello  FrameType = 1
	FrameEvents FrameType = 2
	FramePing   FrameType = 3
	FramePong   FrameType = 4
)

// String names the type, for logs and errors.
func (t FrameType) String() string {
	switch t {
	case FrameHello:
		return "hello"
	case FrameEvents:
		return "events"
	case FramePing:
		return "ping"
	case FramePong:
		return "pong"
	case FrameData:
		return "data"
	}
	return fmt.Sprintf("frame type %d", byte(t))
}

const (
	// DataLinkVersion is the newest data link version this package speaks:
	// 2 added data frames (data.go).
	DataLinkVersion = 2
	// SecretSize is the length of a data socket's secret.
	SecretSize = 32
	// MaxFrameBody bounds a frame's body: the message limit the Link
	// stream has, so that whatever fits one fits the other.
	MaxFrameBody = MaxMessageBytes
	// frameHeader is the length and the type byte.
	frameHeader = 5
)

// Errors of the frame codec.
var (
	// ErrFrameTooLarge is a frame whose length passes MaxFrameBody, or
	// events too large to fit one.
	ErrFrameTooLarge = errors.New("wire: data link frame too large")
	// ErrBadFrame is a frame whose length or body does not parse.
	ErrBadFrame = errors.New("wire: malformed data link frame")
	// ErrBadSecret is a hello whose secret is not the data socket's.
	ErrBadSecret = errors.New("wire: data link: wrong secret")
)

// appendHeader appends a frame header for a body of n bytes.
func appendHeader(b []byte, t FrameType, n int) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(n+1))
	return append(b, byte(t))
}

// AppendHello appends the host's hello: the version it speaks and the
// data socket's secret. The plugin's answer has no secret (nil).
func AppendHello(b []byte, version byte, secret []byte) []byte {
	b = appendHeader(b, FrameHello, 1+len(secret))
	b = append(b, version)
	return append(b, secret...)
}

// AppendEvents appends evs as one events frame. On an error b is returned
// as it was.
func AppendEvents(b []byte, evs ...*portalpb.Event) ([]byte, error) {
	start := len(b)
	b = appendHeader(b, FrameEvents, 0)
	b, err := proto.MarshalOptions{}.MarshalAppend(b, &portalpb.Frame{Events: evs})
	if err != nil {
		return b[:start], fmt.Errorf("wire: encode events: %w", err)
	}
	n := len(b) - start - frameHeader
	if n > MaxFrameBody {
		return b[:start], fmt.Errorf("%w: %d bytes of events (at most %d)", ErrFrameTooLarge, n, MaxFrameBody)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n+1))
	return b, nil
}

// appendSizedEvents appends evs as one events frame, as AppendEvents does
// (the same bytes), for events whose sizes were just computed with
// proto.Size and which have not changed since: each event is encoded with
// its cached size (a Frame holds field 1, the events, each one's length
// before it), so that the encoding does not walk every message a second
// time to size it. On an error b is returned as it was.
func appendSizedEvents(b []byte, sizes []int, evs []*portalpb.Event) ([]byte, error) {
	start := len(b)
	b = appendHeader(b, FrameEvents, 0)
	cached := proto.MarshalOptions{UseCachedSize: true}
	for i, ev := range evs {
		b = protowire.AppendTag(b, eventsField, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizes[i]))
		n0 := len(b)
		out, err := cached.MarshalAppend(b, ev)
		if err != nil {
			return b[:start], fmt.Errorf("wire: encode events: %w", err)
		}
		if len(out)-n0 != sizes[i] {
			// Changed since it was sized: its length prefix is wrong.
			return out[:start], errors.New("wire: encode events: an event changed after it was sized")
		}
		b = out
	}
	n := len(b) - start - frameHeader
	if n > MaxFrameBody {
		return b[:start], fmt.Errorf("%w: %d bytes of events (at most %d)", ErrFrameTooLarge, n, MaxFrameBody)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n+1))
	return b, nil
}

// eventsField is portalpb.Frame's events field number.
const eventsField = 1

// AppendPing appends a ping carrying nonce.
func AppendPing(b []byte, nonce uint64) []byte {
	b = appendHeader(b, FramePing, 8)
	return binary.BigEndian.AppendUint64(b, nonce)
}

// AppendPong appends the answer to the ping that carried nonce.
func AppendPong(b []byte, nonce uint64) []byte {
	b = appendHeader(b, FramePong, 8)
	return binary.BigEndian.AppendUint64(b, nonce)
}

// ParseHello reads a hello's body: the version and the secret (empty in
// the plugin's answer).
func ParseHello(body []byte) (version byte, secret []byte, err error) {
	if len(body) < 1 {
		return 0, nil, fmt.Errorf("%w: empty hello", ErrBadFrame)
	}
	return body[0], body[1:], nil
}

// CheckSecret compares a hello's secret with the data socket's, in
// constant time: the time it takes says nothing about how much of a guess
// was right.
func CheckSecret(got, want []byte) error {
	if len(want) == 0 || subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrBadSecret
	}
	return nil
}

// ParseEvents decodes an events frame's body.
func ParseEvents(body []byte) ([]*portalpb.Event, error) {
	var f portalpb.Frame
	if err := proto.Unmarshal(body, &f); err != nil {
		return nil, fmt.Errorf("%w: events: %w", ErrBadFrame, err)
	}
	return f.GetEvents(), nil
}

// ParseNonce reads a ping's or pong's nonce.
func ParseNonce(body []byte) (uint64, error) {
	if len(body) != 8 {
		return 0, fmt.Errorf("%w: a ping or pong of %d bytes, want 8", ErrBadFrame, len(body))
	}
	return binary.BigEndian.Uint64(body), nil
}

// FrameReader reads a data link's frames. One goroutine reads each side
// of a link, so it is not safe for concurrent use.
type FrameReader struct {
	r   *bufio.Reader
	buf []byte
	// version is the data link version agreed in the hellos (Agree):
	// frames it does not know are refused.
	version byte
}

// readBuffer is the reader's buffer: frames of input come in bursts of
// small ones, read with one system call.
const readBuffer = 64 << 10

// keepBody bounds the body buffer kept between frames: one large frame
// (a reload's sync of every session) does not pin its size for good.
const keepBody = 1 << 20

// NewFrameReader reads frames from r: a plain socket is read directly
// (connio.SocketReader).
func NewFrameReader(r io.Reader) *FrameReader {
	if c, ok := r.(net.Conn); ok {
		r = connio.SocketReader(c)
	}
	return &FrameReader{r: bufio.NewReaderSize(r, readBuffer), version: 1}
}

// Agree records the data link version both sides agreed in their hellos:
// from then on Next refuses frames that version does not know.
func (f *FrameReader) Agree(version byte) { f.version = max(version, 1) }

// Version is the data link version agreed (1 until Agree).
func (f *FrameReader) Version() byte { return f.version }

// Buffered reports how many bytes are read in and not yet returned: more
// frames wait when it is above 0.
func (f *FrameReader) Buffered() int { return f.r.Buffered() }

// Ready reports whether a whole frame is read in: Next will not wait.
func (f *FrameReader) Ready() bool {
	if f.r.Buffered() < 4 {
		return false
	}
	hdr, err := f.r.Peek(4)
	if err != nil {
		return false
	}
	return uint64(f.r.Buffered()) >= 4+uint64(binary.BigEndian.Uint32(hdr))
}

// Next returns the next frame's type and body. The body is valid until the
// next call. A stream that ends between frames gives io.EOF; one that ends
// inside a frame gives io.ErrUnexpectedEOF.
func (f *FrameReader) Next() (FrameType, []byte, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(f.r, hdr[:4]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 {
		return 0, nil, fmt.Errorf("%w: length 0", ErrBadFrame)
	}
	if n-1 > MaxFrameBody {
		return 0, nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrFrameTooLarge, n-1, MaxFrameBody)
	}
	if _, err := io.ReadFull(f.r, hdr[4:]); err != nil {
		return 0, nil, noEOF(err)
	}
	if FrameType(hdr[4]) == FrameData && f.version < DataVersion {
		return 0, nil, fmt.Errorf("%w: a data frame on a version %d link", ErrBadFrame, f.version)
	}
	size := int(n - 1)
	if cap(f.buf) > keepBody && size <= keepBody {
		f.buf = nil
	}
	// The buffer grows as the body arrives, not to what the header
	// claims: a peer that announces 16 MiB and sends a few bytes does not
	// make this side allocate them.
	f.buf = f.buf[:0]
	for len(f.buf) < size {
		if len(f.buf) == cap(f.buf) {
			f.buf = append(f.buf, make([]byte, min(max(cap(f.buf), readBuffer), size-len(f.buf)))...)[:len(f.buf)]
		}
		m, err := io.ReadFull(f.r, f.buf[len(f.buf):min(cap(f.buf), size)])
		f.buf = f.buf[:len(f.buf)+m]
		if err != nil {
			return 0, nil, noEOF(err)
		}
	}
	return FrameType(hdr[4]), f.buf, nil
}

// noEOF turns an end of stream inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
