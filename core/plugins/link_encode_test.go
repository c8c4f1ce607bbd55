package plugins

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/protobuf/proto"
)

// TestEncodeEventKinds: each of the handler's Go events becomes the Link
// event of the same kind, with its fields, and decodes back to what was
// sent.
func TestEncodeEventKinds(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	d := contract.SessionData{Sessid: 4, UName: "Alice", LoggedIn: true,
		ProtocolFlags: contract.FlagsOf(map[string]any{contract.FlagNoColor: true})}

	ev := encodeEvent(log, sessions.DataOut{Sessids: []uint64{1, 2}, Messages: []contract.Message{contract.Text("hi")}})
	msgs, err := wire.MessagesFromPB(ev.GetDataOut().GetMessages())
	if err != nil || !slices.Equal(ev.GetDataOut().GetSessids(), []uint64{1, 2}) || len(msgs) != 1 || msgs[0].Args[0] != "hi" {
		t.Errorf("DataOut encoded as %v (%v)", ev, err)
	}
	if l := encodeEvent(log, sessions.Login{Sessid: 3, UID: 7, UName: "Bob", PUID: 9}).GetLogin(); l.GetSessid() != 3 ||
		l.GetUid() != 7 || l.GetUname() != "Bob" || l.GetPuid() != 9 {
		t.Errorf("Login encoded as %v", l)
	}
	sy := encodeEvent(log, sessions.SessionSync{Session: d, Fields: []string{contract.FieldUName}}).GetSync()
	got, err := wire.SessionFromPB(sy.GetSession())
	if err != nil || got.UName != "Alice" || !got.FlagBool(contract.FlagNoColor) || !slices.Equal(sy.GetFields(), []string{contract.FieldUName}) {
		t.Errorf("SessionSync encoded as %v (%v)", sy, err)
	}
	sa := onWire(t, encodeSyncAll(log, sessions.SyncAll{Sessions: []contract.SessionData{d}, Clean: true})).GetSyncAll()
	if len(sa.GetSessions()) != 1 || !sa.GetClean() || sa.GetSessions()[0].GetSessid() != 4 || sa.GetSessions()[0].GetUname() != "Alice" {
		t.Errorf("SyncAll encoded as %v", sa)
	}
	if dc := encodeEvent(log, sessions.Disconnect{Sessid: 5, Reason: "bye"}).GetDisconnect(); dc.GetSessid() != 5 || dc.GetReason() != "bye" {
		t.Errorf("Disconnect encoded as %v", dc)
	}
	if da := encodeEvent(log, sessions.DisconnectAll{Reason: "all"}).GetDisconnectAll(); da.GetReason() != "all" {
		t.Errorf("DisconnectAll encoded as %v", da)
	}
}

// onWire is ev as the plugin reads it: marshalled and unmarshalled (a
// SyncAll carries its sessions as bytes until then).
func onWire(t *testing.T, ev *portalpb.Event) *portalpb.Event {
	t.Helper()
	b, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var back portalpb.Event
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return &back
}

// TestOutputTooLargeIsDropped: output over the link's event bound is not
// sent (it would break the link for every session of the plugin); its
// recipients get the notice instead, in one event as the output would
// have been.
func TestOutputTooLargeIsDropped(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ev := encodeEvent(log, sessions.DataOut{Sessids: []uint64{1, 2},
		Messages: []contract.Message{contract.Text(strings.Repeat("x", wire.MaxEventBytes+1))}})
	d := ev.GetDataOut()
	msgs, err := wire.MessagesFromPB(d.GetMessages())
	if err != nil || !slices.Equal(d.GetSessids(), []uint64{1, 2}) || len(msgs) != 1 || msgs[0].Args[0] != sessions.MsgOutputTooLarge {
		t.Fatalf("oversized output encoded as %d messages to %v (%v); want only the notice", len(msgs), d.GetSessids(), err)
	}
	if !strings.Contains(logs.String(), "output too large for the link") {
		t.Errorf("the drop was not logged:\n%s", logs.String())
	}
}

// TestEncodeEventRefusesWhatCannotBeEncoded: output that does not encode
// is dropped (logged), and a clean SyncAll none of whose sessions encodes
// is not sent at all: sent empty, it would drop every session of the
// plugin.
func TestEncodeEventRefusesWhatCannotBeEncoded(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	bad := contract.Message{Name: "bad", Args: []any{func() {}}}
	if ev := encodeEvent(log, sessions.DataOut{Sessids: []uint64{1}, Messages: []contract.Message{bad}}); ev != nil {
		t.Errorf("unencodable output sent as %v", ev)
	}
	badData := contract.SessionData{Sessid: 2, ServerData: map[string]any{"c": make(chan int)}}
	if ev := encodeSyncAll(log, sessions.SyncAll{Sessions: []contract.SessionData{badData}, Clean: true}); ev != nil {
		t.Errorf("a clean SyncAll of no encodable session was sent: %v", ev)
	}
	good := contract.SessionData{Sessid: 3}
	sa := onWire(t, encodeSyncAll(log, sessions.SyncAll{Sessions: []contract.SessionData{badData, good}, Clean: true})).GetSyncAll()
	if len(sa.GetSessions()) != 1 || sa.GetSessions()[0].GetSessid() != 3 {
		t.Errorf("SyncAll with one bad session encoded as %v; want the good one alone", sa)
	}
	if ev := encodeEvent(log, sessions.SessionSync{Session: badData}); ev != nil {
		t.Errorf("unencodable sync sent as %v", ev)
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 4 {
		t.Errorf("%d errors logged, want 4:\n%s", n, logs.String())
	}
}
