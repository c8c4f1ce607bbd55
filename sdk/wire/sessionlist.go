package wire

import (
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// A reload moves every session's data twice: the old host pushes it to the
// plugins (SyncAll), the new host asks for it back (Sessions). With 10,000
// sessions that is 10,000 portalpb.SessionData messages each way, and
// building them, marshalling them and, on the other side, unmarshalling them
// and converting them again took most of a reload's restore (issue 16). The
// functions here write and read the same bytes directly: the encoding is
// portalpb.SessionData's, field for field, so either side may be the old
// code (protocol version 2 is unchanged).

// The field numbers of portalpb.SessionData.
const (
	fieldSessid protowire.Number = iota + 1
	fieldProtocolKey
	fieldAddress
	fieldSuid
	fieldUID
	fieldCsessid
	fieldUName
	fieldLoggedIn
	fieldPUID
	fieldConnTime
	fieldCmdLast
	fieldCmdLastVisible
	fieldCmdTotal
	fieldProtocolFlags
	fieldServerData
	fieldCmdsetStorageString
)

// SessionListField is the field number of the session list in both
// messages that carry one: SessionsResponse.sessions and SyncAll.sessions.
const SessionListField protowire.Number = 1

// errNotUTF8 is what proto.Marshal and proto.Unmarshal refuse too: a
// string field must be valid UTF-8.
var errNotUTF8 = errors.New("string field is not valid UTF-8")

// SessionList builds an encoded list of sessions: each Append adds one
// SessionData message as an entry of SessionListField. Bytes is what
// proto.Marshal writes for a message holding only that list, so it can be
// set as the unknown fields of an empty SessionsResponse or SyncAll, which
// marshal it as it is.
type SessionList struct {
	b       []byte
	scratch []byte
	n       int
}

// Append adds d to the list. On an error (a string that is not UTF-8, server
// data that does not encode) the list is as before.
func (l *SessionList) Append(d *contract.SessionData) error {
	msg, err := appendSession(l.scratch[:0], d)
	l.scratch = msg
	if err != nil {
		return fmt.Errorf("wire: encode session %d: %w", d.Sessid, err)
	}
	l.b = protowire.AppendTag(l.b, SessionListField, protowire.BytesType)
	l.b = protowire.AppendBytes(l.b, msg)
	l.n++
	return nil
}

// Reserve makes room for n more sessions the size of those appended so far
// (an eighth more for the variation): a list of ten thousand then grows
// once, not by doubling, whose copies and fresh pages cost as much as the
// encoding. It does nothing before the first Append.
func (l *SessionList) Reserve(n int) {
	if l.n == 0 || n <= 0 {
		return
	}
	need := len(l.b) / l.n * n
	l.b = slices.Grow(l.b, need+need/8)
}

// Len is the number of sessions appended.
func (l *SessionList) Len() int { return l.n }

// Bytes returns the encoded list.
func (l *SessionList) Bytes() []byte { return l.b }

// appendSession appends d as a portalpb.SessionData message: the bytes
// proto.Marshal(SessionToPB(d)) gives (fields in number order, zero values
// left out).
func appendSession(b []byte, d *contract.SessionData) ([]byte, error) {
	b = appendVarint(b, fieldSessid, d.Sessid)
	var err error
	for _, f := range []struct {
		n protowire.Number
		s string
	}{{fieldProtocolKey, d.ProtocolKey}, {fieldAddress, d.Address}, {fieldSuid, d.Suid}} {
		if b, err = appendString(b, f.n, f.s); err != nil {
			return b, err
		}
	}
	b = appendVarint(b, fieldUID, uint64(d.UID))
	if b, err = appendString(b, fieldCsessid, d.Csessid); err != nil {
		return b, err
	}
	if b, err = appendString(b, fieldUName, d.UName); err != nil {
		return b, err
	}
	if d.LoggedIn {
		b = appendVarint(b, fieldLoggedIn, 1)
	}
	b = appendVarint(b, fieldPUID, uint64(d.PUID))
	b = appendVarint(b, fieldConnTime, uint64(unixNano(d.ConnTime)))
	b = appendVarint(b, fieldCmdLast, uint64(unixNano(d.CmdLast)))
	b = appendVarint(b, fieldCmdLastVisible, uint64(unixNano(d.CmdLastVisible)))
	b = appendVarint(b, fieldCmdTotal, uint64(d.CmdTotal))
	if d.ProtocolFlags.Len() > 0 {
		// Appended in place after the tag and a length placeholder, then
		// the length is written (the flags are rarely over 127 bytes, when
		// the placeholder's one byte is enough).
		b = protowire.AppendTag(b, fieldProtocolFlags, protowire.BytesType)
		if b, err = appendLengthPrefixed(b, func(b []byte) ([]byte, error) { return d.ProtocolFlags.AppendJSON(b) }); err != nil {
			return b, err
		}
	}
	if len(d.ServerData) > 0 {
		sd, err := encodeMap(d.ServerData)
		if err != nil {
			return b, fmt.Errorf("server_data: %w", err)
		}
		b = protowire.AppendTag(b, fieldServerData, protowire.BytesType)
		b = protowire.AppendBytes(b, sd)
	}
	return appendString(b, fieldCmdsetStorageString, d.CmdsetStorageString)
}

func appendVarint(b []byte, n protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, n, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendString(b []byte, n protowire.Number, s string) ([]byte, error) {
	if s == "" {
		return b, nil
	}
	if !utf8.ValidString(s) {
		return b, errNotUTF8
	}
	b = protowire.AppendTag(b, n, protowire.BytesType)
	return protowire.AppendString(b, s), nil
}

// appendLengthPrefixed appends what fill appends, preceded by its length
// as a varint. An empty result still gets its length (0), as proto.Marshal
// writes a non-empty bytes field.
func appendLengthPrefixed(b []byte, fill func([]byte) ([]byte, error)) ([]byte, error) {
	at := len(b)
	b = append(b, 0)
	b, err := fill(b)
	if err != nil {
		return b[:at], err
	}
	n := len(b) - at - 1
	if size := protowire.SizeVarint(uint64(n)); size > 1 {
		// Make room for the longer length and move the content up.
		b = append(b, make([]byte, size-1)...)
		copy(b[at+size:], b[at+1:at+1+n])
	}
	protowire.AppendVarint(b[at:at], uint64(n))
	return b, nil
}

// RangeSessions decodes the SessionListField entries of an encoded message
// (a SessionsResponse or a SyncAll, or their unknown fields) and calls fn
// with each session, or with the error of one that does not decode, as
// SessionFromPB would give it. Other fields are skipped. It returns an error
// only when the message itself is malformed.
func RangeSessions(b []byte, fn func(d contract.SessionData, err error)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("wire: session list: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if num != SessionListField || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("wire: session list: %w", protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		msg, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return fmt.Errorf("wire: session list: %w", protowire.ParseError(n))
		}
		b = b[n:]
		d, err := decodeSession(msg)
		fn(d, err)
	}
	return nil
}

// CountSessions returns how many SessionListField entries an encoded
// message holds (0 when it is malformed: RangeSessions says why), for a
// caller to size what it reads them into.
func CountSessions(b []byte) int {
	n := 0
	for len(b) > 0 {
		num, typ, m := protowire.ConsumeTag(b)
		if m < 0 {
			return 0
		}
		b = b[m:]
		if m = protowire.ConsumeFieldValue(num, typ, b); m < 0 {
			return 0
		}
		b = b[m:]
		if num == SessionListField && typ == protowire.BytesType {
			n++
		}
	}
	return n
}

// decodeSession reads one portalpb.SessionData message into session data,
// as proto.Unmarshal and SessionFromPB do together: the last of a repeated
// field wins, unknown fields are skipped, strings must be UTF-8.
func decodeSession(b []byte) (contract.SessionData, error) {
	var d contract.SessionData
	var flags, sd []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return contract.SessionData{}, fmt.Errorf("wire: session data: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case typ == protowire.VarintType && isVarintField(num):
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return contract.SessionData{}, fmt.Errorf("wire: session data: %w", protowire.ParseError(n))
			}
			b = b[n:]
			setVarint(&d, num, v)
			continue
		case typ == protowire.BytesType && isBytesField(num):
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return contract.SessionData{}, fmt.Errorf("wire: session data: %w", protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case fieldProtocolFlags:
				flags = v
			case fieldServerData:
				sd = v
			default:
				if !utf8.Valid(v) {
					return contract.SessionData{}, fmt.Errorf("wire: session data field %d: %w", num, errNotUTF8)
				}
				setString(&d, num, v)
			}
			continue
		}
		// A field this code does not know, or a known one with another
		// wire type (proto.Unmarshal keeps those as unknown too).
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return contract.SessionData{}, fmt.Errorf("wire: session data: %w", protowire.ParseError(n))
		}
		b = b[n:]
	}
	var err error
	if d.ProtocolFlags, err = decodeFlags(flags); err != nil {
		return contract.SessionData{}, fmt.Errorf("wire: decode protocol_flags of session %d: %w", d.Sessid, err)
	}
	if d.ServerData, err = decodeMap(sd); err != nil {
		return contract.SessionData{}, fmt.Errorf("wire: decode server_data of session %d: %w", d.Sessid, err)
	}
	return d, nil
}

func isVarintField(n protowire.Number) bool {
	switch n {
	case fieldSessid, fieldUID, fieldLoggedIn, fieldPUID, fieldConnTime, fieldCmdLast, fieldCmdLastVisible, fieldCmdTotal:
		return true
	}
	return false
}

func isBytesField(n protowire.Number) bool {
	switch n {
	case fieldProtocolKey, fieldAddress, fieldSuid, fieldCsessid, fieldUName, fieldProtocolFlags, fieldServerData,
		fieldCmdsetStorageString:
		return true
	}
	return false
}

func setVarint(d *contract.SessionData, n protowire.Number, v uint64) {
	switch n {
	case fieldSessid:
		d.Sessid = v
	case fieldUID:
		d.UID = int64(v)
	case fieldLoggedIn:
		d.LoggedIn = protowire.DecodeBool(v)
	case fieldPUID:
		d.PUID = int64(v)
	case fieldConnTime:
		d.ConnTime = fromUnixNano(int64(v))
	case fieldCmdLast:
		d.CmdLast = fromUnixNano(int64(v))
	case fieldCmdLastVisible:
		d.CmdLastVisible = fromUnixNano(int64(v))
	case fieldCmdTotal:
		d.CmdTotal = int64(v)
	}
}

func setString(d *contract.SessionData, n protowire.Number, b []byte) {
	switch n {
	case fieldProtocolKey:
		// The protocol key and the command set repeat across sessions:
		// ten thousand telnet sessions share one "telnet".
		d.ProtocolKey = contract.InternBytes(b)
	case fieldAddress:
		d.Address = string(b)
	case fieldSuid:
		d.Suid = string(b)
	case fieldCsessid:
		d.Csessid = string(b)
	case fieldUName:
		d.UName = string(b)
	case fieldCmdsetStorageString:
		d.CmdsetStorageString = contract.InternBytes(b)
	}
}

// RawSessionsAnswer is the call option of the host's Sessions call: the
// answer's bytes are kept (as the response's unknown fields) for
// ReadSessions, which reads them straight into session data, instead of
// being unmarshalled into portalpb.SessionData messages first.
func RawSessionsAnswer() grpc.CallOption {
	return grpc.ForceCodecV2(rawSessionsCodec{encoding.GetCodecV2(protoCodecName)})
}

// protoCodecName is gRPC's name of its protobuf codec: the content subtype
// stays what the plugin expects.
const protoCodecName = "proto"

// rawSessionsCodec is gRPC's protobuf codec except for a SessionsResponse,
// whose sessions it keeps as bytes; its other fields (a page's snapshot,
// next page and total) it unmarshals.
type rawSessionsCodec struct{ encoding.CodecV2 }

func (c rawSessionsCodec) Unmarshal(data mem.BufferSlice, v any) error {
	resp, ok := v.(*portalpb.SessionsResponse)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	list, rest, err := splitSessionsAnswer(data.Materialize())
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(rest, resp); err != nil {
		return fmt.Errorf("wire: sessions answer: %w", err)
	}
	resp.ProtoReflect().SetUnknown(list)
	return nil
}

// splitSessionsAnswer splits an encoded SessionsResponse into its session
// entries and its other fields. The plugin's answer holds the paging
// fields first and then the sessions in one run (proto.Marshal writes
// known fields before unknown ones), so list is a slice of b, not a copy;
// sessions interleaved with other fields, which another encoder may
// write, are gathered into a copy.
func splitSessionsAnswer(b []byte) (list, rest []byte, err error) {
	listEnd := -1 // the end of list when it is still a slice of b
	for at := 0; at < len(b); {
		num, typ, n := protowire.ConsumeField(b[at:])
		if n < 0 {
			return nil, nil, fmt.Errorf("wire: sessions answer: %w", protowire.ParseError(n))
		}
		field := b[at : at+n]
		switch {
		case num != SessionListField || typ != protowire.BytesType:
			rest = append(rest, field...)
		case list == nil:
			list, listEnd = field, at+n
		case listEnd == at:
			list, listEnd = b[at-len(list):at+n], at+n
		default:
			list, listEnd = append(slices.Clip(list), field...), -1
		}
		at += n
	}
	return list, rest, nil
}

// SessionsIn is the number of sessions of a Sessions answer, for sizing.
func SessionsIn(resp *portalpb.SessionsResponse) int {
	return len(resp.GetSessions()) + CountSessions(resp.ProtoReflect().GetUnknown())
}

// ReadSessions calls fn with each session of a Sessions answer, or with the
// error of one that does not decode: those unmarshalled into resp.Sessions,
// then those kept as bytes (RawSessionsAnswer). It returns an error only
// when the kept bytes are malformed.
func ReadSessions(resp *portalpb.SessionsResponse, fn func(d contract.SessionData, err error)) error {
	for _, pd := range resp.GetSessions() {
		fn(SessionFromPB(pd))
	}
	return RangeSessions(resp.ProtoReflect().GetUnknown(), fn)
}
