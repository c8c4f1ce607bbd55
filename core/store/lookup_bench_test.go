package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/portico-mud/portico/core/store"
)

// BenchmarkLoginLookups times the store's part of a password login after
// the hash: the account by name, then its character, over 5,000 distinct
// accounts read in random order from parallel goroutines. It is what a
// bound on the read connections' page cache could slow down (see
// readerCacheKiB).
func BenchmarkLoginLookups(b *testing.B) {
	const accounts = 5000
	s, err := store.OpenSQLite(filepath.Join(b.TempDir(), "b.db"), store.Options{Argon2: store.Argon2Params{MemoryKiB: 8, Time: 1, Threads: 1}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range accounts {
		if _, err := s.CreateAccount(ctx, fmt.Sprintf("player%05d", i), "bench-password", false); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 1))
		for pb.Next() {
			a, err := s.AccountByName(ctx, fmt.Sprintf("player%05d", r.IntN(accounts)))
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := s.CharacterByID(ctx, a.CharacterID); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
