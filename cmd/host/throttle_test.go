package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/core/sessions"
	_ "modernc.org/sqlite" // the store's driver, for the read-only look at it
)

// cpuTime is the CPU time (user + system, every thread) process pid has
// used, from /proc/<pid>/stat. Its unit is USER_HZ, 100 a second on Linux
// whatever the kernel's own tick.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its end. Field 3 (state) is the first; utime is 14, stime 15.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("/proc/%d/stat: %q: %v", pid, b, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100
}

// TestCreateFloodStaysCheap: 500 `create <existing name> <password>` from
// one client address, over four connections at once (200 a second), with
// the real argon2 cost. Only limits.create_attempts (10) of them are considered —
// each told the name is taken — and the rest are refused with the
// throttle's message; no argon2 hash is spent on a taken name (the host's
// own count), and the host uses well under one core meanwhile (the old
// code hashed every one, two at a time: both cores when it could get
// them, ~33 ms of CPU an attempt).
func TestCreateFloodStaysCheap(t *testing.T) {
	h := startHostWith(t, hostOptions{realArgon2: true, limits: "  connection_rate: 0\n  connections_per_ip: 0\n  command_rate: 0\n"})
	createAccount(t, h, "Victim", "victimpassword", false) // the CLI hashes in its own process
	const attacker, conns, perConn = "127.0.0.5", 4, 125
	clients := make([]*telnetClient, conns)
	for i := range clients {
		clients[i] = dialFrom(t, attacker, h.telnetAddr)
		clients[i].expect("Welcome to TestGame")
	}
	before := h.waitFor("status", func(hostStatus) bool { return true })
	pid := h.cmd.Process.Pid
	taken := "Sorry, there is already an account with the name 'Victim'."
	var nTaken, nThrottled atomic.Int64
	cpu0, t0 := cpuTime(t, pid), time.Now()
	parallel(t, clients, func(i int, c *telnetClient) error {
		// 50 a second per connection, 200 in all: the pace of the
		// reported attack (1,127–1,945 in ~15 s), so that the host's share
		// of a core is what the attempts cost it, not how fast a client
		// on the same machine can push.
		pace := time.NewTicker(20 * time.Millisecond)
		defer pace.Stop()
		for range perConn {
			<-pace.C
			if err := c.write("create Victim password123"); err != nil {
				return err
			}
			got, err := c.AwaitAny([]string{taken, sessions.MsgCreateAttempts}, 30*time.Second)
			if err != nil {
				return err
			}
			if got == taken {
				nTaken.Add(1)
			} else {
				nThrottled.Add(1)
			}
		}
		return nil
	})
	wall, cpu := time.Since(t0), cpuTime(t, pid)-cpu0
	after := h.waitFor("status", func(hostStatus) bool { return true })
	t.Logf("%d creates in %v: %d considered (name taken), %d throttled; host CPU %v (%.2f of one core); argon2 hashes %d",
		conns*perConn, wall.Round(time.Millisecond), nTaken.Load(), nThrottled.Load(), cpu,
		cpu.Seconds()/wall.Seconds(), after.PasswordHashes-before.PasswordHashes)
	if nTaken.Load() != 10 || nThrottled.Load() != conns*perConn-10 {
		t.Errorf("%d told the name is taken, %d throttled; want 10 (limits.create_attempts) and %d",
			nTaken.Load(), nThrottled.Load(), conns*perConn-10)
	}
	if n := after.PasswordHashes - before.PasswordHashes; n != 0 {
		t.Errorf("%d argon2 hashes spent on a taken name", n)
	}
	// Well under one core (half of it is already far more than refusing
	// 500 lines takes). On a machine other work keeps busy the host
	// may not get a core whatever it asks, so the CPU time is also held
	// to 2 ms an attempt: one argon2 hash at the default cost alone takes
	// ten times that (the old code spent ~33 ms an attempt here).
	if cpu >= wall/2 {
		t.Errorf("host used %v of CPU in %v: half a core or more", cpu, wall)
	}
	if budget := conns * perConn * 2 * time.Millisecond; cpu > budget {
		t.Errorf("host used %v of CPU for %d attempts, over %v", cpu, conns*perConn, budget)
	}

	// The count is real: a login from another address costs one hash.
	owner := dialFrom(t, "127.0.0.6", h.telnetAddr)
	owner.expect("Welcome to TestGame")
	owner.send("connect Victim victimpassword")
	owner.expect("You become Victim.")
	if n := h.waitFor("status", func(hostStatus) bool { return true }).PasswordHashes - after.PasswordHashes; n != 1 {
		t.Errorf("a login counted %d hashes, want 1", n)
	}
}

// TestThrottlesSurviveReload: three wrong passwords and two creates from
// one address, `portico reload`, and the next login (with the right
// password) and create from that address are still refused; the owner
// from another address gets in.
func TestThrottlesSurviveReload(t *testing.T) {
	h := startHostWith(t, hostOptions{limits: "  connection_rate: 0\n  connections_per_ip: 0\n  account_creations: 0\n" +
		"  login_failures: 3\n  login_failure_window: 5m\n  create_attempts: 2\n"})
	createAccount(t, h, "Mira", "mirapassword", false)
	a := dialFrom(t, "127.0.0.2", h.telnetAddr)
	a.expect("Welcome to TestGame")
	for range 3 {
		a.send("connect Mira wrongpassword")
		a.expect(sessions.MsgBadLogin)
	}
	for range 2 {
		a.send("create Mira password123")
		a.expect("Sorry, there is already an account with the name 'Mira'.")
	}
	before := h.waitFor("status", func(hostStatus) bool { return true })
	runPortico(t, h, "", "reload")
	a.expect("Server restarted.")
	h.waitFor("the new image", func(st host.Status) bool { return st.Started.After(before.Started) })

	a.send("connect Mira mirapassword")
	a.expect(sessions.MsgLoginThrottled)
	a.send("create Nora password123")
	a.expect(sessions.MsgCreateAttempts)
	b := dialFrom(t, "127.0.0.3", h.telnetAddr)
	b.expect("Welcome to TestGame")
	b.send("connect Mira mirapassword")
	b.expect("You become Mira.")
}

// TestThrottlesSurviveCrash: the counters reach the database within a
// second or so of a failure, so a host killed with SIGKILL and started
// again still refuses the address.
func TestThrottlesSurviveCrash(t *testing.T) {
	h := startHostWith(t, hostOptions{limits: testLimits + "  login_failures: 2\n"})
	createAccount(t, h, "Nell", "nellpassword", false)
	a := dialFrom(t, "127.0.0.4", h.telnetAddr)
	a.expect("Welcome to TestGame")
	for range 2 {
		a.send("connect Nell wrongpassword")
		a.expect(sessions.MsgBadLogin)
	}
	// Wait (bounded) until the host has written them. The database is
	// the running host's: the test reads it over a read-only connection
	// of its own (store.Open would migrate it, and store.LoadThrottles
	// deletes expired rows).
	db := openReadOnly(t, filepath.Join(h.dir, "data", "portico.db"))
	// A write statement that would change nothing is refused: the
	// connection cannot write.
	if _, err := db.Exec("DELETE FROM throttles WHERE 0"); err == nil {
		t.Fatal("the test's read-only connection to the host's database took a write")
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		hits, err := storedThrottleHits(db, "|nell", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(hits, 2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failures never reached the database: hits per key %v", hits)
		}
		time.Sleep(50 * time.Millisecond) // another process's writes: polled
	}
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-h.exited
	h.start()
	a.expect("Server restarted.")
	a.send("connect Nell nellpassword")
	a.expect(sessions.MsgLoginThrottled)
}

// openReadOnly opens the SQLite database at path read-only (SQLite's
// mode=ro: a write is refused by SQLite itself), for a test to look at
// a running host's store without changing it.
func openReadOnly(t *testing.T, path string) *sql.DB {
	t.Helper()
	u := url.URL{Scheme: "file", Path: path, RawQuery: "mode=ro&_pragma=busy_timeout(5000)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// storedThrottleHits returns, for each throttle row whose key contains
// keyPart and that has not expired at now, how many hits it holds: what
// store.LoadThrottles would load, read without its pruning.
func storedThrottleHits(db *sql.DB, keyPart string, now time.Time) ([]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, "SELECT key, hits FROM throttles WHERE expires_at >= ? ORDER BY key", now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read throttles: %w", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var key, hits string
		if err := rows.Scan(&key, &hits); err != nil {
			return nil, fmt.Errorf("read throttles: %w", err)
		}
		if !strings.Contains(key, keyPart) {
			continue
		}
		var ms []int64
		if err := json.Unmarshal([]byte(hits), &ms); err != nil {
			return nil, fmt.Errorf("read throttles: key %q: hits %q: %w", key, hits, err)
		}
		out = append(out, len(ms))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read throttles: %w", err)
	}
	return out, nil
}
