package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/store"
)

func TestThrottlesSaveLoadPrune(t *testing.T) { store.EachBackend(t, testThrottlesSaveLoadPrune) }

func testThrottlesSaveLoadPrune(t *testing.T, db store.TestDB) {
	path := db.Location
	s := openAt(t, path)
	ctx := testCtx(t)
	now := time.UnixMilli(time.Now().UnixMilli())
	hits := []time.Time{now.Add(-2 * time.Minute), now.Add(-time.Minute)}
	if err := s.SaveThrottles(ctx, []store.ThrottleEntry{
		{Key: "login|ip|198.51.100.1", Hits: hits, Expires: now.Add(4 * time.Minute)},
		{Key: "create-attempt|ip|198.51.100.1", Hits: hits[1:], Expires: now.Add(time.Minute)},
		{Key: "gone", Hits: hits, Expires: now.Add(-time.Second)}, // expired already: pruned by the same save
	}, now); err != nil {
		t.Fatal(err)
	}
	// Replace one, delete the other (no hits).
	if err := s.SaveThrottles(ctx, []store.ThrottleEntry{
		{Key: "login|ip|198.51.100.1", Hits: append(slices.Clone(hits), now), Expires: now.Add(5 * time.Minute)},
		{Key: "create-attempt|ip|198.51.100.1"},
	}, now); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openAt(t, path) // survives a reopen
	got, err := s.LoadThrottles(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Key != "login|ip|198.51.100.1" || len(got[0].Hits) != 3 ||
		!got[0].Hits[0].Equal(hits[0]) || !got[0].Hits[2].Equal(now) || !got[0].Expires.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("loaded %+v", got)
	}
	// Loading after it expired prunes it.
	if got, err := s.LoadThrottles(ctx, now.Add(6*time.Minute)); err != nil || len(got) != 0 {
		t.Fatalf("after expiry: %+v %v", got, err)
	}
	if got, err := s.LoadThrottles(ctx, now); err != nil || len(got) != 0 {
		t.Fatalf("the expired row was not deleted: %+v %v", got, err)
	}
}

func TestNameTakenAndHashCount(t *testing.T) { store.EachBackend(t, testNameTakenAndHashCount) }

func testNameTakenAndHashCount(t *testing.T, db store.TestDB) {
	s := openAt(t, db.Location)
	ctx := testCtx(t)
	if n := s.PasswordHashes(); n != 0 {
		t.Fatalf("a new store made %d hashes", n)
	}
	if _, err := s.CreateAccount(ctx, "Alice", "secret1", false); err != nil {
		t.Fatal(err)
	}
	if n := s.PasswordHashes(); n != 1 {
		t.Errorf("CreateAccount made %d hashes, want 1", n)
	}
	for name, want := range map[string]bool{"Alice": true, "aLiCe": true, "Bob": false, "": false,
		string(make([]byte, 300)): false} {
		got, err := s.NameTaken(ctx, name)
		if err != nil || got != want {
			t.Errorf("NameTaken(%q) = %v, %v; want %v", name[:min(len(name), 10)], got, err, want)
		}
	}
	if n := s.PasswordHashes(); n != 1 {
		t.Errorf("NameTaken hashed (%d hashes)", n)
	}
	if _, err := s.Authenticate(ctx, "Nobody", "secret1"); err == nil {
		t.Fatal("an unknown name authenticated")
	}
	if n := s.PasswordHashes(); n != 2 {
		t.Errorf("after a failed Authenticate: %d hashes, want 2 (an unknown name costs a hash too)", n)
	}
}
