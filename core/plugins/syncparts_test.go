package plugins

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// A whole-plugin sync larger than its part size goes in parts: syncs that
// are not clean, each within the size but for its last session, carrying
// every session's data in order, then one clean sync listing every
// session by id alone (only sessid loaded). A session that does not encode
// is in none of them; a sync within the size stays one event, as before.
// (A sync past the link's event bound was refused whole: a reload of
// fifty thousand sessions, or far fewer with server data on them.)
func TestSyncAllInParts(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	var all []contract.SessionData
	var want []uint64
	for i := range 40 {
		d := contract.SessionData{Sessid: uint64(100 + i), UName: fmt.Sprintf("player%d", i), LoggedIn: true, UID: int64(i + 1),
			ServerData: map[string]any{"title": "the adventurer"}}
		if i == 7 {
			d.ServerData = map[string]any{"c": make(chan int)} // does not encode
		} else {
			want = append(want, d.Sessid)
		}
		all = append(all, d)
	}
	e := sessions.SyncAll{Sessions: all, Clean: true, Fields: sessions.ReloadSyncFields}
	one, _ := wireSize(t, encodeSyncAll(log, e))
	if got := encodeSyncAllParts(log, e, one); len(got) != 1 {
		t.Fatalf("a sync within the size went in %d events", len(got))
	}

	const limit = 600
	parts := encodeSyncAllParts(log, e, limit)
	if len(parts) < 4 {
		t.Fatalf("%d parts for %d bytes of sessions at %d a part", len(parts), one, limit)
	}
	var carried []uint64
	for i, pe := range parts[:len(parts)-1] {
		n, largest := wireSize(t, pe)
		if n-largest >= limit {
			t.Errorf("part %d: %d bytes of sessions, past %d before its last session", i, n, limit)
		}
		sa := onWire(t, pe).GetSyncAll()
		if sa.GetClean() || !slices.Equal(sa.GetFields(), sessions.ReloadSyncFields) {
			t.Errorf("part %d: clean %v, fields %v", i, sa.GetClean(), sa.GetFields())
		}
		for _, pd := range sa.GetSessions() {
			d, err := wire.SessionFromPB(pd)
			if err != nil {
				t.Fatal(err)
			}
			if src := all[d.Sessid-100]; d.UName != src.UName || d.UID != src.UID || d.ServerData["title"] != "the adventurer" {
				t.Errorf("part %d carries %+v for %+v", i, d, src)
			}
			carried = append(carried, d.Sessid)
		}
	}
	if !slices.Equal(carried, want) {
		t.Errorf("the parts carry %v, want %v", carried, want)
	}
	last := onWire(t, parts[len(parts)-1]).GetSyncAll()
	if !last.GetClean() || !slices.Equal(last.GetFields(), []string{contract.FieldSessid}) {
		t.Fatalf("the last part: clean %v, fields %v; want a clean sync of sessid", last.GetClean(), last.GetFields())
	}
	var listed []uint64
	for _, pd := range last.GetSessions() {
		if pd.GetUname() != "" || pd.GetLoggedIn() {
			t.Errorf("the clean list carries data: %v", pd)
		}
		listed = append(listed, pd.GetSessid())
	}
	if !slices.Equal(listed, want) {
		t.Errorf("the clean list names %v, want %v", listed, want)
	}

	// Not clean: the parts alone.
	e.Clean = false
	for _, pe := range encodeSyncAllParts(log, e, limit) {
		if onWire(t, pe).GetSyncAll().GetClean() {
			t.Error("a sync that was not clean sent a clean part")
		}
	}
}

// wireSize is the bytes of sessions a SyncAll event carries, and the
// largest one's.
func wireSize(t *testing.T, pe *portalpb.Event) (n, largest int) {
	t.Helper()
	n = len(pe.GetSyncAll().ProtoReflect().GetUnknown())
	for _, pd := range onWire(t, pe).GetSyncAll().GetSessions() {
		m := proto.Size(pd)
		largest = max(largest, protowire.SizeTag(1)+protowire.SizeBytes(m))
	}
	return n, largest
}
