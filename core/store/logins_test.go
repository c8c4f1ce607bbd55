package store_test

import (
	"maps"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/store"
)

// logins reads plugin's saved logins or fails the test.
func logins(t *testing.T, s *store.Store, plugin string) map[uint64]store.SessionLogin {
	t.Helper()
	got, err := s.SessionLogins(testCtx(t), plugin)
	if err != nil {
		t.Fatalf("SessionLogins(%s): %v", plugin, err)
	}
	return got
}

// TestSessionLoginRows: a login writes its row, a puppet change replaces
// it, a disconnect deletes it, and a plugin's rows are read and cleared
// without touching another plugin's.
func TestSessionLoginRows(t *testing.T) { store.EachBackend(t, testSessionLoginRows) }

func testSessionLoginRows(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	s := openAt(t, db.Location)
	alice := store.SessionLogin{Sessid: 1, Plugin: "telnet", UID: 5, PUID: 7}
	bob := store.SessionLogin{Sessid: 2, Plugin: "telnet", UID: 6}
	web := store.SessionLogin{Sessid: 3, Plugin: "websocket", UID: 5, PUID: 7}
	if err := s.ApplySessionLogins(ctx, store.SaveSessionLogin(alice), store.SaveSessionLogin(bob),
		store.SaveSessionLogin(web)); err != nil {
		t.Fatal(err)
	}
	if got, want := logins(t, s, "telnet"), map[uint64]store.SessionLogin{1: alice, 2: bob}; !maps.Equal(got, want) {
		t.Fatalf("telnet logins = %v, want %v", got, want)
	}

	// ooc, then ic of another character: the row follows.
	alice.PUID = 0
	if err := s.ApplySessionLogins(ctx, store.SaveSessionLogin(alice)); err != nil {
		t.Fatal(err)
	}
	if got := logins(t, s, "telnet")[1]; got != alice {
		t.Fatalf("after ooc: %+v, want %+v", got, alice)
	}
	alice.PUID = 9
	if err := s.ApplySessionLogins(ctx, store.SaveSessionLogin(alice)); err != nil {
		t.Fatal(err)
	}
	if got := logins(t, s, "telnet")[1]; got != alice {
		t.Fatalf("after ic: %+v, want %+v", got, alice)
	}

	// Bob disconnects; deleting again is no error.
	if err := s.ApplySessionLogins(ctx, store.DeleteSessionLogin(2), store.DeleteSessionLogin(2)); err != nil {
		t.Fatal(err)
	}
	if got, want := logins(t, s, "telnet"), map[uint64]store.SessionLogin{1: alice}; !maps.Equal(got, want) {
		t.Fatalf("after Bob's disconnect: %v, want %v", got, want)
	}

	// The telnet plugin is launched afresh: its rows go, websocket's stay.
	if err := s.ApplySessionLogins(ctx, store.DeletePluginLogins("telnet")); err != nil {
		t.Fatal(err)
	}
	if got := logins(t, s, "telnet"); len(got) != 0 {
		t.Fatalf("telnet rows after clearing: %v", got)
	}
	if got, want := logins(t, s, "websocket"), map[uint64]store.SessionLogin{3: web}; !maps.Equal(got, want) {
		t.Fatalf("websocket rows = %v, want %v", got, want)
	}
}

// TestSessionLoginsInOrder: changes in one call apply in order, so a
// login followed by its session's end leaves no row, and the reverse
// leaves one.
func TestSessionLoginsInOrder(t *testing.T) { store.EachBackend(t, testSessionLoginsInOrder) }

func testSessionLoginsInOrder(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	s := openAt(t, db.Location)
	a := store.SessionLogin{Sessid: 10, Plugin: "ssh", UID: 1}
	b := store.SessionLogin{Sessid: 11, Plugin: "ssh", UID: 2}
	if err := s.ApplySessionLogins(ctx, store.SaveSessionLogin(a), store.DeleteSessionLogin(10),
		store.DeleteSessionLogin(11), store.SaveSessionLogin(b)); err != nil {
		t.Fatal(err)
	}
	if got, want := logins(t, s, "ssh"), map[uint64]store.SessionLogin{11: b}; !maps.Equal(got, want) {
		t.Fatalf("rows = %v, want %v", got, want)
	}
}

// TestSessionLoginsRefuseIncompleteAndApplyNothing: a batch with a bad
// change is refused whole, with an error that says what is wrong.
func TestSessionLoginsRefuseIncompleteAndApplyNothing(t *testing.T) {
	store.EachBackend(t, testSessionLoginsRefuseIncompleteAndApplyNothing)
}

func testSessionLoginsRefuseIncompleteAndApplyNothing(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	s := openAt(t, db.Location)
	good := store.SaveSessionLogin(store.SessionLogin{Sessid: 1, Plugin: "telnet", UID: 1})
	for _, bad := range []store.SessionLoginChange{
		store.SaveSessionLogin(store.SessionLogin{Sessid: 2, Plugin: "telnet"}),         // no account
		store.SaveSessionLogin(store.SessionLogin{Sessid: 0, Plugin: "telnet", UID: 1}), // no session
		store.SaveSessionLogin(store.SessionLogin{Sessid: 2, UID: 1}),                   // no plugin
		store.DeletePluginLogins(""),
	} {
		if err := s.ApplySessionLogins(ctx, good, bad); err == nil {
			t.Errorf("ApplySessionLogins(%s) succeeded", bad)
		}
	}
	if got := logins(t, s, "telnet"); len(got) != 0 {
		t.Fatalf("a refused batch left rows: %v", got)
	}
}

// TestApplyEachSessionLogin: an invalid change fails alone, with its own
// error; the valid changes of the same call are applied.
func TestApplyEachSessionLogin(t *testing.T) { store.EachBackend(t, testApplyEachSessionLogin) }

func testApplyEachSessionLogin(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	s := openAt(t, db.Location)
	changes := []store.SessionLoginChange{
		store.SaveSessionLogin(store.SessionLogin{Sessid: 1, Plugin: "telnet", UID: 1}),
		store.SaveSessionLogin(store.SessionLogin{Sessid: 2, Plugin: "telnet"}),               // no account
		store.SaveSessionLogin(store.SessionLogin{Sessid: 1 << 63, Plugin: "telnet", UID: 1}), // out of range
		store.SaveSessionLogin(store.SessionLogin{Sessid: 3, Plugin: "telnet", UID: 2, PUID: 5}),
		store.DeletePluginLogins(""),
	}
	invalid, err := s.ApplyEachSessionLogin(ctx, changes...)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, true, true, false, true} {
		if got := invalid[i] != nil; got != want {
			t.Errorf("change %d (%s): invalid %v, want %v (%v)", i, changes[i], got, want, invalid[i])
		}
	}
	got := logins(t, s, "telnet")
	if len(got) != 2 || got[1].UID != 1 || got[3].PUID != 5 {
		t.Fatalf("saved %v, want sessions 1 and 3", got)
	}
	if invalid, err := s.ApplyEachSessionLogin(ctx, store.DeleteSessionLogin(1)); err != nil || invalid != nil {
		t.Fatalf("a valid change: invalid %v, err %v", invalid, err)
	}
}

// TestSessionLoginsSurviveReopen: what was saved is there after the store
// is closed and opened again (a host killed and started again).
func TestSessionLoginsSurviveReopen(t *testing.T) {
	store.EachBackend(t, testSessionLoginsSurviveReopen)
}

func testSessionLoginsSurviveReopen(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	path := db.Location
	s, err := store.Open(path, fast)
	if err != nil {
		t.Fatal(err)
	}
	l := store.SessionLogin{Sessid: 1 << 40, Plugin: "telnet", UID: 3, PUID: 4}
	if err := s.ApplySessionLogins(ctx, store.SaveSessionLogin(l)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openAt(t, path)
	if got := logins(t, s2, "telnet"); got[l.Sessid] != l || len(got) != 1 {
		t.Fatalf("after reopen: %v, want %+v", got, l)
	}
}

// TestSessionLoginsManyInOneQuery: 10,000 logins are saved in one
// transaction and read back by one query, as a reload of that many
// sessions does.
func TestSessionLoginsManyInOneQuery(t *testing.T) {
	store.EachBackend(t, testSessionLoginsManyInOneQuery)
}

func testSessionLoginsManyInOneQuery(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	s := openAt(t, db.Location)
	const n = 10000
	changes := make([]store.SessionLoginChange, 0, n)
	for i := range n {
		changes = append(changes, store.SaveSessionLogin(store.SessionLogin{Sessid: uint64(i + 1), Plugin: "telnet",
			UID: int64(i%500 + 1), PUID: int64(i % 7)}))
	}
	t0 := time.Now()
	if err := s.ApplySessionLogins(ctx, changes...); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	got := logins(t, s, "telnet")
	t2 := time.Now()
	if len(got) != n {
		t.Fatalf("read back %d rows, want %d", len(got), n)
	}
	for i := range n {
		id := uint64(i + 1)
		if want := (store.SessionLogin{Sessid: id, Plugin: "telnet", UID: int64(i%500 + 1), PUID: int64(i % 7)}); got[id] != want {
			t.Fatalf("row %d = %+v, want %+v", id, got[id], want)
		}
	}
	t.Logf("%d logins: saved in %v, read in %v", n, t1.Sub(t0).Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond))
}
