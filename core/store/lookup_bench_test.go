package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/store"
)

// BenchmarkLoginLookups times the store's part of a password login after
// the hash: the account by name, then its character, over 5,000 distinct
// accounts read in random order from parallel goroutines. It is what a
// bound on the read connections' page cache could slow down (see
// readerCacheKiB). On Linux it also reports how much the process's
// resident memory grew over the run (rss-KiB), most of it the read
// connections' page caches, which SQLite keeps.
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
	rss0, rssOK := residentKiB()
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
	b.StopTimer()
	if rss, ok := residentKiB(); ok && rssOK {
		b.ReportMetric(float64(rss-rss0), "rss-KiB")
	}
}

// residentKiB returns the process's resident memory after returning the
// Go heap's free pages to the OS, so that what is left is what is held;
// ok is false where /proc/self/status has no VmRSS.
func residentKiB() (kib int64, ok bool) {
	runtime.GC()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, found := strings.CutPrefix(line, "VmRSS:"); found {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}
