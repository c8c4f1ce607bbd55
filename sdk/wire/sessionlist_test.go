package wire

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// listSessions are sessions that cover every field and encoding case: zero
// values (left out), negative ids (ten-byte varints), flags whose JSON is
// over 127 bytes (a two-byte length), server data, a field 16 tag (two
// bytes), a flag the contract does not know.
func listSessions() []contract.SessionData {
	var fresh contract.SessionData
	fresh.InitSession("telnet", "127.0.0.1:50000", time.Unix(1700000000, 123456789))
	fresh.Sessid = 1
	full := telnetSession()
	full.Suid, full.Csessid, full.CmdTotal = "suid-1", "browser-9", 12
	full.UID, full.PUID = -5, 1<<40
	full.CmdLast = time.Unix(0, 1)
	full.SetServerData("watches", []any{"a", float64(2)})
	full.SetServerData("note", "é")
	full.ProtocolFlags.Set("CUSTOM_FLAG", strings.Repeat("x", 200))
	var bare contract.SessionData // nothing set at all
	bare.Sessid = 3
	long := telnetSession()
	long.Sessid = 4
	long.Address = strings.Repeat("a", 300)
	long.ProtocolFlags.Set("CLIENTNAME", strings.Repeat("y", 20000)) // a three-byte length
	return []contract.SessionData{fresh, full, bare, long}
}

// TestSessionListMatchesProto checks that the hand encoding writes exactly
// the bytes proto.Marshal writes for the same sessions (so old hosts and
// plugins read it), and that RangeSessions reads them back as
// proto.Unmarshal and SessionFromPB do.
func TestSessionListMatchesProto(t *testing.T) {
	all := listSessions()
	var list SessionList
	want := &portalpb.SessionsResponse{}
	for i := range all {
		if err := list.Append(&all[i]); err != nil {
			t.Fatal(err)
		}
		pd, err := SessionToPB(all[i])
		if err != nil {
			t.Fatal(err)
		}
		want.Sessions = append(want.Sessions, pd)
	}
	wantBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(list.Bytes(), wantBytes) {
		t.Fatalf("hand encoding differs from proto.Marshal:\n got %x\nwant %x", list.Bytes(), wantBytes)
	}
	if list.Len() != len(all) {
		t.Fatalf("Len = %d, want %d", list.Len(), len(all))
	}
	// Carried as the unknown fields of an empty message, it marshals as
	// the list itself.
	carrier := &portalpb.SessionsResponse{}
	carrier.ProtoReflect().SetUnknown(list.Bytes())
	if b, err := proto.Marshal(carrier); err != nil || !bytes.Equal(b, wantBytes) {
		t.Fatalf("carried list marshals to %x (%v)", b, err)
	}
	var back portalpb.SessionsResponse
	if err := proto.Unmarshal(wantBytes, &back); err != nil {
		t.Fatal(err)
	}
	var got []contract.SessionData
	if err := RangeSessions(wantBytes, func(d contract.SessionData, err error) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(back.Sessions) {
		t.Fatalf("read %d sessions, want %d", len(got), len(back.Sessions))
	}
	for i, pd := range back.Sessions {
		d, err := SessionFromPB(pd)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[i], d) {
			t.Fatalf("session %d:\n got %+v\nwant %+v", i, got[i], d)
		}
	}
}

// TestSessionListRefusesWhatProtoRefuses: a string that is not UTF-8 does
// not encode (proto.Marshal refuses it too), and the list is unchanged; on
// the reading side such a session is reported and the next still read.
func TestSessionListRefusesWhatProtoRefuses(t *testing.T) {
	good := telnetSession()
	bad := telnetSession()
	bad.Sessid, bad.UName = 43, "bad\xff"
	var list SessionList
	if err := list.Append(&good); err != nil {
		t.Fatal(err)
	}
	before := append([]byte(nil), list.Bytes()...)
	if err := list.Append(&bad); err == nil || !strings.Contains(err.Error(), "session 43") {
		t.Fatalf("Append of a non-UTF-8 name = %v", err)
	}
	if !bytes.Equal(list.Bytes(), before) || list.Len() != 1 {
		t.Fatal("a refused session changed the list")
	}
	if _, err := proto.Marshal(&portalpb.SessionData{Uname: bad.UName}); err == nil {
		t.Fatal("proto.Marshal took a non-UTF-8 string: the test's premise is wrong")
	}

	// A non-UTF-8 name on the wire, between two good sessions.
	raw := protowire.AppendTag(nil, SessionListField, protowire.BytesType)
	msg := protowire.AppendTag(nil, fieldSessid, protowire.VarintType)
	msg = protowire.AppendVarint(msg, 43)
	msg = protowire.AppendTag(msg, fieldUName, protowire.BytesType)
	msg = protowire.AppendString(msg, "bad\xff")
	raw = protowire.AppendBytes(raw, msg)
	wire := append(append(append([]byte(nil), before...), raw...), before...)
	var ok, failed int
	if err := RangeSessions(wire, func(d contract.SessionData, err error) {
		if err != nil {
			failed++
			return
		}
		ok++
	}); err != nil {
		t.Fatal(err)
	}
	if ok != 2 || failed != 1 {
		t.Fatalf("read %d good and %d bad sessions, want 2 and 1", ok, failed)
	}
	if err := RangeSessions(wire[:len(wire)-3], func(contract.SessionData, error) {}); err == nil {
		t.Fatal("a truncated list read without an error")
	}
}

// FuzzDecodeSession checks the hand decoder against proto.Unmarshal and
// SessionFromPB on any bytes: both refuse, or both give the same session.
func FuzzDecodeSession(f *testing.F) {
	for _, d := range listSessions() {
		b, err := appendSession(nil, &d)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x08, 0x80}) // a truncated varint
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := decodeSession(b)
		var pd portalpb.SessionData
		wantErr := proto.Unmarshal(b, &pd)
		var want contract.SessionData
		if wantErr == nil {
			want, wantErr = SessionFromPB(&pd)
		}
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("decodeSession error %v, proto %v", gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeSession\n got %+v\nwant %+v", got, want)
		}
	})
}

// BenchmarkSessionList is one session of a reattach's Sessions answer the
// way it goes now (BenchmarkSessionsAnswer is the same through portalpb):
// appended to the list on the plugin, read back on the host.
func BenchmarkSessionList(b *testing.B) {
	d := telnetSession()
	var list SessionList
	b.ReportAllocs()
	for b.Loop() {
		list.b, list.n = list.b[:0], 0
		if err := list.Append(&d); err != nil {
			b.Fatal(err)
		}
		if err := RangeSessions(list.Bytes(), func(_ contract.SessionData, err error) {
			if err != nil {
				b.Fatal(err)
			}
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSessionListReserveAndCount: Reserve makes room without changing the
// list (and does nothing on an empty one), and CountSessions counts its
// entries, skipping other fields, and gives 0 for a malformed message.
func TestSessionListReserveAndCount(t *testing.T) {
	var list SessionList
	list.Reserve(100)
	if cap(list.Bytes()) != 0 {
		t.Fatalf("Reserve on an empty list allocated %d bytes", cap(list.Bytes()))
	}
	all := listSessions()
	if err := list.Append(&all[0]); err != nil {
		t.Fatal(err)
	}
	one := len(list.Bytes())
	before := append([]byte(nil), list.Bytes()...)
	list.Reserve(100)
	if !bytes.Equal(list.Bytes(), before) || cap(list.Bytes())-one < 100*one {
		t.Fatalf("Reserve(100): %d bytes of room for sessions of %d; content changed: %v",
			cap(list.Bytes())-one, one, !bytes.Equal(list.Bytes(), before))
	}
	for i := 1; i < len(all); i++ {
		if err := list.Append(&all[i]); err != nil {
			t.Fatal(err)
		}
	}
	// A SyncAll's other fields (clean, fields) around the list.
	sa := &portalpb.SyncAll{Clean: true, Fields: []string{contract.FieldUName}}
	sa.ProtoReflect().SetUnknown(list.Bytes())
	b, err := proto.Marshal(sa)
	if err != nil {
		t.Fatal(err)
	}
	if n := CountSessions(b); n != len(all) {
		t.Fatalf("CountSessions = %d, want %d", n, len(all))
	}
	if n := CountSessions(b[:len(b)-1]); n != 0 {
		t.Fatalf("CountSessions of a truncated message = %d, want 0", n)
	}
	resp := &portalpb.SessionsResponse{Sessions: []*portalpb.SessionData{{Sessid: 9}}}
	resp.ProtoReflect().SetUnknown(list.Bytes())
	if n := SessionsIn(resp); n != len(all)+1 {
		t.Fatalf("SessionsIn = %d, want %d", n, len(all)+1)
	}
	var ids []uint64
	if err := ReadSessions(resp, func(d contract.SessionData, err error) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.Sessid)
	}); err != nil {
		t.Fatal(err)
	}
	if want := []uint64{9, 1, 42, 3, 4}; !slices.Equal(ids, want) {
		t.Fatalf("ReadSessions read %v, want %v", ids, want)
	}
}
