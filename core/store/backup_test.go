package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/portico-mud/portico/core/store"
)

// TestBackupWhileWriting: a backup taken while accounts are being created
// is a database that passes the integrity check, opens as a store, and
// holds every account made before it started; the file is 0600; an
// existing file is refused and left as it was.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, filepath.Join(dir, "portico.db"))
	ctx := testCtx(t)
	for i := range 20 {
		if _, err := s.CreateAccount(ctx, fmt.Sprintf("before%d", i), "password1", false); err != nil {
			t.Fatal(err)
		}
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; wctx.Err() == nil; i++ {
			if _, err := s.CreateAccount(wctx, fmt.Sprintf("during%d", i), "password1", false); err != nil && wctx.Err() == nil {
				t.Errorf("create while backing up: %v", err)
				return
			}
		}
	}()
	path := filepath.Join(dir, "backup.db")
	n, err := s.Backup(ctx, path)
	stop()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Errorf("the backup holds %d accounts, want at least 20", n)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, %v", fi, err)
	}
	b, err := store.Open(path, store.Options{Argon2: store.Argon2Params{MemoryKiB: 64, Time: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range 20 {
		if _, err := b.Authenticate(ctx, fmt.Sprintf("before%d", i), "password1"); err != nil {
			t.Errorf("before%d in the backup: %v", i, err)
		}
	}
	if _, err := s.Backup(ctx, path); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("backup over an existing file: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) == 0 {
		t.Error("no files")
	} else {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".partial") {
				t.Errorf("left behind: %s", e.Name())
			}
		}
	}
}
