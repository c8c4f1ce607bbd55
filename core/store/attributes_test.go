package store_test

import (
	"maps"
	"path/filepath"
	"testing"

	"github.com/portico-mud/portico/core/store"
)

// TestAttributes: changes apply in order in one transaction, owners are
// kept apart, and what was written is there after the database is opened
// again.
func TestAttributes(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "portico.db")
	s, err := store.Open(path, fast)
	if err != nil {
		t.Fatal(err)
	}
	err = s.ApplyAttributes(ctx, []store.AttributeChange{
		{Kind: "character", ID: 1, Key: "room", Value: "1"},
		{Kind: "character", ID: 1, Key: "room", Value: "2"}, // the later one wins
		{Kind: "character", ID: 1, Key: "title", Value: `"the Bold"`},
		{Kind: "character", ID: 1, Key: "gone", Value: "true"},
		{Kind: "character", ID: 1, Key: "gone", Delete: true},
		{Kind: "account", ID: 1, Key: "room", Value: "9"},
		{Kind: "room", ID: 1, Key: "name", Value: `"Hall"`},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	for _, tc := range []struct {
		kind string
		id   int64
		want map[string]string
	}{
		{"character", 1, map[string]string{"room": "2", "title": `"the Bold"`}},
		{"account", 1, map[string]string{"room": "9"}},
		{"room", 1, map[string]string{"name": `"Hall"`}},
		{"character", 2, map[string]string{}},
	} {
		got, err := s.Attributes(ctx, tc.kind, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, tc.want) {
			t.Errorf("%s %d: %v, want %v", tc.kind, tc.id, got, tc.want)
		}
	}
	if err := s.ApplyAttributes(ctx, nil); err != nil {
		t.Errorf("no changes: %v", err)
	}
}
