package attrs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/attrs"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/leakcheck"
)

// TestMain fails the run when a goroutine the tests started (a writer)
// outlives them.
func TestMain(m *testing.M) { leakcheck.Main(m) }

var fast = store.Options{Argon2: store.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}}

func openDB(t *testing.T, path string) *store.Store {
	t.Helper()
	db, err := store.Open(path, fast)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

type position struct {
	Room  int      `json:"room"`
	Trail []string `json:"trail"`
}

func flush(t *testing.T, a *attrs.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSetGetDelete: values of any JSON-able type round-trip, each Get is a
// copy, owners are kept apart, and Delete and Keys do what they say.
func TestSetGetDelete(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "portico.db"))
	defer db.Close()
	a := attrs.New(db, nil)
	defer a.Close()
	alice := attrs.Character(1)
	if err := a.Set(alice, "pos", position{Room: 3, Trail: []string{"n", "e"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(attrs.Account(1), "pos", 99); err != nil {
		t.Fatal(err)
	}
	var p position
	if ok, err := a.Get(alice, "pos", &p); !ok || err != nil || p.Room != 3 || len(p.Trail) != 2 {
		t.Fatalf("Get = %v, %v, %+v", ok, err, p)
	}
	p.Trail[0] = "changed"
	var again position
	if _, err := a.Get(alice, "pos", &again); err != nil || again.Trail[0] != "n" {
		t.Fatalf("a caller's change reached the store: %+v, %v", again, err)
	}
	var n int
	if ok, err := a.Get(attrs.Account(1), "pos", &n); !ok || err != nil || n != 99 {
		t.Fatalf("account's pos = %v, %v, %d", ok, err, n)
	}
	var missing string
	if ok, err := a.Get(alice, "nothing", &missing); ok || err != nil {
		t.Fatalf("a missing key: %v, %v", ok, err)
	}
	if err := a.Set(alice, "title", "the Bold"); err != nil {
		t.Fatal(err)
	}
	if keys, err := a.Keys(alice); err != nil || strings.Join(keys, ",") != "pos,title" {
		t.Fatalf("Keys = %v, %v", keys, err)
	}
	if err := a.Delete(alice, "title"); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(alice, "never-set"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if ok, _ := a.Get(alice, "title", &missing); ok {
		t.Fatal("deleted key still there")
	}
	var wrongType int
	if ok, err := a.Get(alice, "pos", &wrongType); !ok || err == nil {
		t.Fatalf("decoding into the wrong type: %v, %v", ok, err)
	}
}

// TestPersisted: what was set is in the database once flushed, the last of
// many changes to one key wins (the writer keeps their order), and a new
// store on the same database reads it back.
func TestPersisted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "portico.db")
	db := openDB(t, path)
	a := attrs.New(db, nil)
	o := attrs.Owner{Kind: "room", ID: 7}
	for i := range 200 {
		if err := a.Set(o, "visits", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Set(o, "name", "Hall"); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(o, "temp", true); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(o, "temp"); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(o, "late", 1); !errors.Is(err, attrs.ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
	db.Close()

	db = openDB(t, path)
	defer db.Close()
	rows, err := db.Attributes(context.Background(), "room", 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows["visits"] != "199" || rows["name"] != `"Hall"` {
		t.Fatalf("in the database: %v", rows)
	}
	b := attrs.New(db, nil)
	defer b.Close()
	var visits int
	if ok, err := b.Get(o, "visits", &visits); !ok || err != nil || visits != 199 {
		t.Fatalf("read back: %v, %v, %d", ok, err, visits)
	}
}

// TestRefused: bad owners, keys and values are refused with a message
// naming them, and nothing is stored.
func TestRefused(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "portico.db"))
	defer db.Close()
	a := attrs.New(db, nil)
	defer a.Close()
	for _, tc := range []struct {
		name  string
		owner attrs.Owner
		key   string
		value any
		want  string
	}{
		{"no kind", attrs.Owner{ID: 1}, "k", 1, `owner kind ""`},
		{"upper-case kind", attrs.Owner{Kind: "Room", ID: 1}, "k", 1, `owner kind "Room"`},
		{"negative id", attrs.Owner{Kind: "room", ID: -1}, "k", 1, "negative id"},
		{"empty key", attrs.World(), "", 1, `key ""`},
		{"long key", attrs.World(), strings.Repeat("k", attrs.MaxKeyLength+1), 1, "want 1 to 128 bytes"},
		{"no JSON", attrs.World(), "k", make(chan int), "unsupported type"},
		{"too big", attrs.World(), "k", strings.Repeat("x", attrs.MaxValueSize), "more than 65536"},
	} {
		err := a.Set(tc.owner, tc.key, tc.value)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if keys, err := a.Keys(attrs.World()); err != nil || len(keys) != 0 {
		t.Fatalf("stored anyway: %v, %v", keys, err)
	}
}

// TestWriteErrorReported: a write the database refuses is logged and
// reported by Flush; the value stays in memory.
func TestWriteErrorReported(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "portico.db"))
	a := attrs.New(db, nil)
	o := attrs.Character(1)
	var room int
	if _, err := a.Get(o, "room", &room); err != nil { // loaded while the database is open
		t.Fatal(err)
	}
	db.Close()
	if err := a.Set(o, "room", 5); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err == nil {
		t.Fatal("a failed write was not reported")
	}
	if ok, _ := a.Get(o, "room", &room); !ok || room != 5 {
		t.Fatalf("the value in memory: %v %d", ok, room)
	}
}

// TestConcurrentUse: the store may be used from many goroutines at once
// (the race detector watches).
func TestConcurrentUse(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "portico.db"))
	defer db.Close()
	a := attrs.New(db, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := attrs.Character(int64(g))
			for i := range 50 {
				if err := a.Set(o, "n", i); err != nil {
					t.Error(err)
					return
				}
				var n int
				if _, err := a.Get(o, "n", &n); err != nil || n != i {
					t.Errorf("goroutine %d read %d after writing %d (%v)", g, n, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	flush(t, a)
	for g := range 8 {
		rows, err := db.Attributes(context.Background(), attrs.KindCharacter, int64(g))
		if err != nil || rows["n"] != "49" {
			t.Fatalf("character %d in the database: %v %v", g, rows, err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// The attribute store keeps typed values on an owner. Inside a game the
// host makes it, and commands and hooks reach it as Handler().Attrs().
func ExampleStore() {
	dir, err := os.MkdirTemp("", "attrs-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "portico.db"), store.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	a := attrs.New(db, nil)
	defer a.Close()

	type stats struct {
		HP    int `json:"hp"`
		Level int `json:"level"`
	}
	hero := attrs.Character(1)
	_ = a.Set(hero, "stats", stats{HP: 30, Level: 2})
	_ = a.Set(hero, "title", "the Wanderer")

	var s stats
	if ok, err := a.Get(hero, "stats", &s); ok && err == nil {
		fmt.Println("hp", s.HP, "level", s.Level)
	}
	keys, _ := a.Keys(hero)
	fmt.Println(keys)
	// Output:
	// hp 30 level 2
	// [stats title]
}
