package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/store"
)

// TestBackupWhilePlayersWrite: `portico backup FILE` while four players
// create accounts as fast as the host answers writes a file that passes
// SQLite's integrity check and opens as a database holding every account
// whose creation was answered before the backup started; a second backup
// to the same file is refused.
func TestBackupWhilePlayersWrite(t *testing.T) {
	// The players type as fast as the host answers, which over the data
	// socket is faster than the command rate allows (80 a second).
	h := startHostWith(t, hostOptions{limits: testLimits + "  command_rate: 0\n"})
	var mu sync.Mutex
	created := map[string]time.Time{} // name -> when the player was told
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		c := dialTelnet(t, h.telnetAddr)
		c.expect("Welcome to TestGame")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500 && ctx.Err() == nil; i++ {
				name := fmt.Sprintf("w%dn%d", w, i)
				if err := c.write("create " + name + " password" + name); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				if _, err := c.Await("A new account '"+name+"' was created.", 15*time.Second); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				mu.Lock()
				created[name] = time.Now()
				mu.Unlock()
			}
		}()
	}
	// Let the writers get going, then back up twice while they write.
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(created)
		mu.Unlock()
		if n >= 20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	type backup struct {
		path  string
		start time.Time
	}
	var backups []backup
	for i := range 2 {
		b := backup{path: filepath.Join(t.TempDir(), fmt.Sprintf("portico-%d.db", i)), start: time.Now()}
		mustPortico(t, h, "", "integrity ok", "backup", b.path)
		backups = append(backups, b)
	}
	stop()
	wg.Wait()
	if out, ok := portico(t, h, "", "backup", backups[0].path); ok || !strings.Contains(out, "exists already") {
		t.Errorf("a backup over an existing file: ok %v\n%s", ok, out)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, b := range backups {
		st, err := store.Open(b.path, store.Options{Argon2: store.Argon2Params{MemoryKiB: 256, Time: 1}})
		if err != nil {
			t.Fatalf("%s does not open: %v", b.path, err)
		}
		all, err := st.Accounts(context.Background())
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]bool{}
		for _, a := range all {
			in[a.Name] = true
		}
		before := 0
		for name, at := range created {
			if at.Before(b.start) {
				before++
				if !in[name] {
					t.Errorf("%s: account %s, created before the backup began, is missing", b.path, name)
				}
			}
		}
		t.Logf("%s: %d accounts; %d created before it began, %d in all by the end", filepath.Base(b.path), len(all), before, len(created))
		if before < 20 {
			t.Errorf("only %d accounts were created before the backup: the writers did not get going", before)
		}
	}
}
