package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/leakcheck"
)

// TestMain fails the run when a goroutine outlives the tests: a cluster's
// owner goroutine must end with Stop.
func TestMain(m *testing.M) {
	leakcheck.Main(m)
}

// TestClusterStartsAndStops: a cluster serves databases of its own on a
// unix socket with a password, and Stop ends the server and removes its
// directory.
func TestClusterStartsAndStops(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx)
	if errors.Is(err, ErrNotInstalled) {
		unavailable(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			c.Stop()
		}
	})
	url, err := c.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(url, c.Password()) || !strings.Contains(url, "host=") {
		t.Errorf("URL %q lacks the password or the socket directory", url)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	var user string
	if err := db.QueryRowContext(ctx, "SELECT current_user").Scan(&user); err != nil || user != User {
		t.Errorf("current_user = %q, %v; want %s", user, err, User)
	}
	db.Close()
	// PostgreSQL will not run as root: a root test runs it as nobody.
	if cred, err := serverCredential(); err != nil {
		t.Fatal(err)
	} else if cred != nil {
		fi, err := os.Stat(c.dir + "/data")
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != cred.Uid || uid == 0 {
			t.Errorf("the data directory belongs to uid %d, want %d (nobody)", uid, cred.Uid)
		}
	}
	if err := c.DropDatabase(ctx, url); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if _, err := os.Stat(c.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cluster's directory is still there after Stop: %v", err)
	}
	if err := syscall.Kill(c.cmd.Process.Pid, 0); err == nil {
		t.Errorf("postgres (pid %d) still runs after Stop", c.cmd.Process.Pid)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("a second Stop: %v", err)
	}
}

// fakeT records how unavailable ends a test, without ending this one.
type fakeT struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Skip(...any)           { f.skipped = true }
func (f *fakeT) Fatal(...any)          { f.failed = true }
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }

// TestMissingPostgresFailsUnderCI: without the binaries a test is skipped,
// except under CI, where it fails; any other trouble fails it anywhere.
func TestMissingPostgresFailsUnderCI(t *testing.T) {
	for _, tc := range []struct {
		ci           string
		err          error
		skip, failed bool
	}{
		{"", ErrNotInstalled, true, false},
		{"true", ErrNotInstalled, false, true},
		{"false", ErrNotInstalled, true, false},
		{"", errors.New("pgtest: initdb: exit status 1"), false, true},
		{"true", errors.New("pgtest: initdb: exit status 1"), false, true},
	} {
		t.Setenv("CI", tc.ci)
		f := &fakeT{}
		unavailable(f, tc.err)
		if f.skipped != tc.skip || f.failed != tc.failed {
			t.Errorf("CI=%q, %v: skipped %v, failed %v; want %v, %v", tc.ci, tc.err, f.skipped, f.failed, tc.skip, tc.failed)
		}
	}
}
