// Package pgtest starts throwaway PostgreSQL servers for tests: a cluster
// of the test's own, made with initdb in a temporary directory, served by
// a postgres process on a unix socket in that directory (no TCP port), and
// removed when it stops. It is for tests only, of Portico and of games
// built on it: nothing else imports it.
//
// It needs PostgreSQL's server binaries (Debian's postgresql package puts
// them in /usr/lib/postgresql/<version>/bin). Where they are missing, the
// test asking for a cluster is skipped with the reason, except under CI
// (CI=true), where it fails: a missing package must not pass for a
// passing test. PostgreSQL refuses to run as root, so a test running as
// root runs initdb and postgres as the unprivileged user nobody.
package pgtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// ErrNotInstalled means PostgreSQL's server binaries were not found.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL's initdb and postgres not found in /usr/lib/postgresql/*/bin " +
	"or on PATH (install Debian's postgresql package: apt-get install postgresql)")

// User is the cluster's superuser, whom every URL names.
const User = "portico"

// startTimeout bounds initdb and the server's start; stopTimeout the
// server's fast shutdown, after which it is killed.
const (
	startTimeout = 2 * time.Minute
	stopTimeout  = 30 * time.Second
)

// readyLine is what postgres logs once it accepts connections (its
// messages are in English: the cluster is made with --no-locale).
const readyLine = "database system is ready to accept connections"

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	// dir holds the data directory (data/), the socket and the password
	// file; it is removed by Stop.
	dir      string
	password string
	cmd      *exec.Cmd
	// exited is closed when the server process has exited and its log
	// has been read to the end.
	exited chan struct{}
	log    *logTail
	admin  *sql.DB

	mu       sync.Mutex
	made     int  // databases made, for their names
	stopped  bool // Stop was called
	stopOnce sync.Once
	stopErr  error
}

// BinDir returns the directory holding PostgreSQL's initdb and postgres:
// the newest /usr/lib/postgresql/<version>/bin that has both (where
// Debian installs them, off PATH), else the directory of initdb on PATH.
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if executable(filepath.Join(d, "initdb")) && executable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if d := filepath.Dir(p); executable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNotInstalled
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Start makes a cluster in a new temporary directory and starts its
// server. Stop stops it and removes the directory. Errors wrap
// ErrNotInstalled when the binaries are missing.
func Start(ctx context.Context) (c *Cluster, err error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	// A short path under the system's temporary directory: the socket's
	// path must fit in 107 bytes.
	dir, err := os.MkdirTemp("", "pgt-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	c = &Cluster{dir: dir, password: hex.EncodeToString(secret), exited: make(chan struct{}), log: &logTail{}}
	if err := c.initdb(ctx, bin, cred); err != nil {
		return nil, err
	}
	if err := c.serve(ctx, bin, cred); err != nil {
		return nil, err
	}
	c.admin, err = sql.Open("pgx", c.URL("postgres"))
	if err == nil {
		err = c.admin.PingContext(ctx)
	}
	if err != nil {
		c.Stop()
		return nil, fmt.Errorf("pgtest: connect: %w", err)
	}
	return c, nil
}

// initdb makes the cluster in c.dir/data, owned by cred's user (nil: this
// process's), with the superuser User and c.password.
func (c *Cluster) initdb(ctx context.Context, bin string, cred *syscall.Credential) error {
	pwfile := filepath.Join(c.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if cred != nil {
		for _, p := range []string{c.dir, pwfile} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("pgtest: hand %s to the server's user: %w", p, err)
			}
		}
	}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", filepath.Join(c.dir, "data"),
		"--username="+User, "--auth=scram-sha-256", "--pwfile="+pwfile,
		"--encoding=UTF8", "--no-locale", "--no-sync")
	initdb.Dir, initdb.Env = c.dir, serverEnv()
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	return nil
}

// serve starts the server as cred's user and returns once it accepts
// connections (it says so in its log).
func (c *Cluster) serve(ctx context.Context, bin string, cred *syscall.Credential) error {
	// A test server: durability is worth nothing here, speed is.
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(c.dir, "data"),
		"-k", c.dir, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	c.cmd.Dir, c.cmd.Env = c.dir, serverEnv()
	c.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// Should the test process die without stopping the server (a
		// test timeout's panic), the kernel tells the server to shut down
		// fast rather than leave it running.
		Pdeathsig: syscall.SIGINT,
	}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	ready := make(chan struct{})
	started := make(chan error, 1)
	// The server's owner: it starts the process, reads its log to the
	// end, and waits for it; it ends when the process has exited. It
	// starts the process from a thread it keeps, because the parent-death
	// signal follows the thread that started the child.
	go func() {
		runtime.LockOSThread()
		defer close(c.exited)
		if err := c.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			c.log.add(line)
			if !signalled && strings.Contains(line, readyLine) {
				close(ready)
				signalled = true
			}
		}
		// A line too long for the scanner stops it: drain the rest, so
		// that the server never blocks on a full pipe.
		io.Copy(io.Discard, stderr)
		c.cmd.Wait()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	select {
	case <-ready:
		return nil
	case <-c.exited:
		return fmt.Errorf("pgtest: postgres exited at start (%v):\n%s", c.cmd.ProcessState, c.log)
	case <-ctx.Done():
		c.Stop()
		return fmt.Errorf("pgtest: postgres not ready after %v:\n%s", startTimeout, c.log)
	}
}

// serverCredential returns who initdb and postgres run as: nil (this
// process's user) unless this process is root, which PostgreSQL refuses
// to run as; then the user nobody.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, and no user nobody to run PostgreSQL as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: user nobody: %w", err)
	}
	// No supplementary groups: root's must not go with it.
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// serverEnv is the environment of initdb and postgres: this process's,
// with the C locale so that the server's messages are the ones readyLine
// expects.
func serverEnv() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") || strings.HasPrefix(kv, "PG")
	})
	return append(env, "LC_ALL=C", "LANG=C")
}

// URL returns the postgres:// URL of database db on the cluster, with the
// superuser's password and the socket directory as its host.
func (c *Cluster) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(User, c.password), Path: "/" + db,
		RawQuery: url.Values{"host": {c.dir}, "sslmode": {"disable"}}.Encode()}
	return u.String()
}

// Password returns the superuser's password: tests check that it is never
// printed.
func (c *Cluster) Password() string { return c.password }

// NewDatabase creates an empty database and returns its URL.
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	c.mu.Lock()
	c.made++
	name := "t" + strconv.Itoa(c.made)
	c.mu.Unlock()
	if _, err := c.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return c.URL(name), nil
}

// DropDatabase drops the database that url (from NewDatabase) names,
// ending its sessions.
func (c *Cluster) DropDatabase(ctx context.Context, dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return fmt.Errorf("pgtest: drop database: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if _, err := c.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", name, err)
	}
	return nil
}

// Database creates an empty database for t, dropped when t ends, and
// returns its URL.
func (c *Cluster) Database(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := c.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.isStopped() {
			return // a test that stopped the server took its databases with it
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.DropDatabase(ctx, u); err != nil {
			t.Error(err)
		}
	})
	return u
}

// Stop shuts the server down (fast: sessions are ended), killing it if it
// has not exited within 30 seconds, and removes the cluster's directory.
// It may be called more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		c.stopped = true
		c.mu.Unlock()
		if c.admin != nil {
			c.admin.Close()
		}
		var errs []error
		if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, err)
		}
		timer := time.NewTimer(stopTimeout)
		defer timer.Stop()
		select {
		case <-c.exited:
		case <-timer.C:
			errs = append(errs, fmt.Errorf("did not stop within %v; killed:\n%s", stopTimeout, c.log))
			c.cmd.Process.Kill()
			<-c.exited
		}
		errs = append(errs, os.RemoveAll(c.dir))
		if err := errors.Join(errs...); err != nil {
			c.stopErr = fmt.Errorf("pgtest: stop: %w", err)
		}
	})
	return c.stopErr
}

// isStopped reports whether Stop was called.
func (c *Cluster) isStopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped
}

// Require returns a cluster of t's own, stopped when t ends. Without
// PostgreSQL's binaries it skips t, or fails it under CI.
func Require(t testing.TB) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := Start(ctx)
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// shared is the cluster of Shared.
var shared struct {
	sync.Mutex
	tried bool
	c     *Cluster
	err   error
}

// Shared returns the one cluster of this test process, started by the
// first call, for a package whose many tests each want a database
// (Cluster.Database) and should not each pay for initdb. The package's
// TestMain stops it with StopShared after its tests. Without PostgreSQL's
// binaries it skips t, or fails it under CI.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if !shared.tried {
		shared.tried = true
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		shared.c, shared.err = Start(ctx)
		cancel()
	}
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	return shared.c
}

// StopShared stops the cluster Shared started, if it did.
func StopShared() error {
	shared.Lock()
	defer shared.Unlock()
	if shared.c == nil {
		return nil
	}
	return shared.c.Stop()
}

// MainWithShared wraps a package's tests (m.Run) so that the shared
// cluster is stopped after them: a TestMain passes it where it would pass
// m (to leakcheck.Main, say).
func MainWithShared(m interface{ Run() int }) interface{ Run() int } {
	return stopAfter{m}
}

type stopAfter struct{ m interface{ Run() int } }

func (s stopAfter) Run() int {
	code := s.m.Run()
	if err := StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// UnderCI reports whether the tests run under CI (CI=true), where a
// missing PostgreSQL fails them instead of skipping them.
func UnderCI() bool {
	ci := os.Getenv("CI")
	return strings.EqualFold(ci, "true") || ci == "1"
}

// unavailable ends t for want of a cluster: a skip when the binaries are
// missing outside CI, a failure otherwise.
func unavailable(t testing.TB, err error) {
	t.Helper()
	switch {
	case !errors.Is(err, ErrNotInstalled):
		t.Fatal(err)
	case UnderCI():
		t.Fatalf("%v; CI=true, so this is a failure, not a skip", err)
	default:
		t.Skip(err)
	}
}

// logTail keeps the last lines of the server's log, for messages.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

const logTailLines = 50

func (l *logTail) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	if len(l.lines) > logTailLines {
		l.lines = slices.Delete(l.lines, 0, len(l.lines)-logTailLines)
	}
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
