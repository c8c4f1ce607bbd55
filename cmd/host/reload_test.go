package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/core/plugins"
)

var sessidRE = regexp.MustCompile(`(?m)^ (\d+)\s+telnet\s`)

// mySessid asks the game for the client's session id with @sessions.
func mySessid(c *telnetClient) (string, error) {
	if err := c.write("@sessions"); err != nil {
		return "", err
	}
	out, err := c.Await("Puppet/Character", 15*time.Second)
	if err != nil {
		return "", err
	}
	_ = out
	rest, err := c.Await("\r\n", 15*time.Second) // the header line's end
	if err != nil {
		return "", err
	}
	_ = rest
	row, err := c.Await("\r\n", 15*time.Second)
	if err != nil {
		return "", err
	}
	m := sessidRE.FindStringSubmatch(strings.ReplaceAll(row, "\r\n", "\n"))
	if m == nil {
		return "", fmt.Errorf("no session row in %q", row)
	}
	return m[1], nil
}

// parallel runs f for every client, at most 32 at a time, and fails the
// test with the first error.
func parallel(t *testing.T, clients []*telnetClient, f func(i int, c *telnetClient) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(clients))
	sem := make(chan struct{}, 32)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := f(i, c); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestReloadKeepsEveryone reloads the host under 200 logged-in telnet
// sessions: nobody is dropped, every session keeps its id and account, a
// line typed during the reload is answered after it.
func TestReloadKeepsEveryone(t *testing.T) {
	const n = 200
	h := startHost(t)
	clients, ids := loginMany(t, h, n)
	before := h.waitFor("all logged in", func(st host.Status) bool { return st.AccountsOnline == n })
	pluginBefore := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })

	reload := exec.Command(filepath.Join(binDir, "portico"), "reload", "--config", h.configPath)
	reload.Env = os.Environ()
	out := make(chan string, 1)
	start := time.Now()
	var reloadOut strings.Builder
	reload.Stdout, reload.Stderr = &reloadOut, &reloadOut
	if err := reload.Start(); err != nil {
		t.Fatal(err)
	}
	// Typed once the reload has begun: answered after it, not lost.
	clients[0].expect("Server restart initiated")
	clients[0].send("say typed during the reload")
	go func() {
		err := reload.Wait()
		out <- fmt.Sprintf("%v %s", err, reloadOut.String())
	}()
	parallel(t, clients, func(i int, c *telnetClient) error {
		_, err := c.Await("Server restarted.", 30*time.Second)
		return err
	})
	// The answer may come before or after the restart notice, depending on
	// whether the old image or the new one ran it: either way it comes.
	clients[0].expectSeen(`You say, "typed during the reload"`)
	elapsed := time.Since(start)
	select {
	case o := <-out:
		if !strings.HasPrefix(o, "<nil>") {
			t.Fatalf("portico reload: %s", o)
		}
		t.Logf("portico reload said: %s", strings.TrimSpace(strings.TrimPrefix(o, "<nil> ")))
	case <-time.After(30 * time.Second):
		t.Fatal("portico reload did not return")
	}
	t.Logf("reload with %d sessions: every session answered again %v after the command", n, elapsed.Round(time.Millisecond))
	if elapsed > time.Second {
		t.Logf("note: reload took over a second on this machine (%v)", elapsed)
	}

	after := h.waitFor("all sessions back", func(st host.Status) bool { return st.AccountsOnline == n && st.Sessions == n })
	if after.PID != before.PID {
		t.Fatalf("host pid changed: %d -> %d (a reload re-executes in place)", before.PID, after.PID)
	}
	if !after.Started.After(before.Started) {
		t.Fatalf("host did not restart: started %v then %v", before.Started, after.Started)
	}
	pluginAfter := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	if pluginAfter.PID != pluginBefore.PID {
		t.Fatalf("telnet plugin was restarted (pid %d -> %d); it must be reattached", pluginBefore.PID, pluginAfter.PID)
	}
	sameSessions(t, clients, ids)
	clients[1].send("say after the reload")
	clients[2].expect(`Player001 says, "after the reload"`)
}

// loginMany connects n telnet clients to h and logs each in to an account
// of its own (Player000, ...), and returns them with their session ids.
func loginMany(t *testing.T, h *testHost, n int) ([]*telnetClient, []string) {
	t.Helper()
	clients := make([]*telnetClient, n)
	for i := range clients {
		clients[i] = dialTelnet(t, h.telnetAddr)
	}
	ids := make([]string, n)
	parallel(t, clients, func(i int, c *telnetClient) error {
		name := fmt.Sprintf("Player%03d", i)
		if _, err := c.Await("Welcome to TestGame", 15*time.Second); err != nil {
			return err
		}
		for _, step := range [][2]string{
			{"create " + name + " pw" + name, "was created"},
			{"connect " + name + " pw" + name, "You become " + name + "."},
		} {
			if err := c.write(step[0]); err != nil {
				return err
			}
			if _, err := c.Await(step[1], 15*time.Second); err != nil {
				return err
			}
		}
		id, err := mySessid(c)
		ids[i] = id
		return err
	})
	return clients, ids
}

// sameSessions fails the test unless every client is still connected with
// the session id it had (ids, from loginMany).
func sameSessions(t *testing.T, clients []*telnetClient, ids []string) {
	t.Helper()
	dropped := 0
	for _, c := range clients {
		if c.isClosed() {
			dropped++
		}
	}
	if dropped != 0 {
		t.Fatalf("%d connections dropped by the reload", dropped)
	}
	parallel(t, clients, func(i int, c *telnetClient) error {
		id, err := mySessid(c)
		if err != nil {
			return err
		}
		if id != ids[i] {
			return fmt.Errorf("sessid changed: %s -> %s", ids[i], id)
		}
		return nil
	})
}

// TestReloadRestoresInPages reloads the host under 60 logged-in sessions
// with the reattaching host asking for the plugin's sessions in pages of
// 1 KiB (the test knob plugins.EnvTestSessionsPageBytes; the real pages are
// of 8 MiB, which takes tens of thousands of sessions to fill): the restore
// reads a score of pages, and every session is back with its id and account.
func TestReloadRestoresInPages(t *testing.T) {
	const n = 60
	h := startHostWith(t, hostOptions{env: []string{plugins.EnvTestSessionsPageBytes + "=1024"}})
	clients, ids := loginMany(t, h, n)
	before := h.waitFor("all logged in", func(st host.Status) bool { return st.AccountsOnline == n })
	reload := exec.Command(filepath.Join(binDir, "portico"), "reload", "--config", h.configPath)
	if out, err := reload.CombinedOutput(); err != nil {
		t.Fatalf("portico reload: %v: %s", err, out)
	}
	parallel(t, clients, func(i int, c *telnetClient) error {
		_, err := c.Await("Server restarted.", 30*time.Second)
		return err
	})
	after := h.waitFor("all sessions back", func(st host.Status) bool {
		return st.Started.After(before.Started) && st.AccountsOnline == n && st.Sessions == n
	})
	if after.PID != before.PID {
		t.Fatalf("host pid changed: %d -> %d (a reload re-executes in place)", before.PID, after.PID)
	}
	m := restoredRE.FindStringSubmatch(h.logText())
	if m == nil {
		t.Fatal("the new image logged no restore")
	}
	if pages, _ := strconv.Atoi(m[2]); m[1] != strconv.Itoa(n) || pages < 10 {
		t.Fatalf("restored %s sessions in %s pages, want %d in a score", m[1], m[2], n)
	}
	t.Logf("%s sessions restored in %s pages", m[1], m[2])
	sameSessions(t, clients, ids)
}

// restoredRE finds the plugin's restore in the host's log: its sessions
// and its pages.
var restoredRE = regexp.MustCompile(`sessions restored.*count=(\d+) pages=(\d+)`)

// TestHostKilledPlayersStay: SIGKILL the host; the plugin keeps its
// clients, tells them, buffers their input; a new host reattaches and
// answers it, with everyone still logged in.
func TestHostKilledPlayersStay(t *testing.T) {
	h := startHost(t)
	a := dialTelnet(t, h.telnetAddr)
	a.login("Erin", "erinpass1", true)
	b := dialTelnet(t, h.telnetAddr)
	b.login("Finn", "finnpass1", true)
	plugin := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })

	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-h.exited
	a.expect("The server is restarting; please wait a moment.")
	a.send("say anyone there?")
	h.start()
	a.expect("Server restarted.")
	a.expect(`You say, "anyone there?"`)
	b.expect(`Erin says, "anyone there?"`)
	st := h.waitFor("both back", func(st host.Status) bool { return st.AccountsOnline == 2 })
	if st.Sessions != 2 {
		t.Fatalf("status after host restart: %+v", st)
	}
	after := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	if after.PID != plugin.PID {
		t.Fatalf("plugin pid %d -> %d: it must be reattached, not restarted", plugin.PID, after.PID)
	}
	if a.isClosed() || b.isClosed() {
		t.Fatal("a client was dropped")
	}
}

// TestReloadWhileProfiling reloads a host that writes a CPU profile
// (PORTICO_CPUPROFILE, as `go run ./bench -profile` runs it) three times:
// each new image comes up and reattaches, nobody is dropped, and every
// image's profile is written. Before, the profiling timer outlived the exec
// and SIGPROF killed the new image before its runtime could catch it, so
// the plugin, waiting for a host that never came, dropped everyone.
func TestReloadWhileProfiling(t *testing.T) {
	prof := t.TempDir()
	h := startHostWith(t, hostOptions{env: []string{"PORTICO_CPUPROFILE=" + prof}})
	a := dialTelnet(t, h.telnetAddr)
	a.login("Gwen", "gwenpass1", true)
	b := dialTelnet(t, h.telnetAddr)
	b.login("Hugo", "hugopass1", true)
	plugin := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	const reloads = 3
	for i := 1; i <= reloads; i++ {
		before := h.waitFor("up", func(st host.Status) bool { return st.AccountsOnline == 2 })
		reload := exec.Command(filepath.Join(binDir, "portico"), "reload", "--config", h.configPath)
		done := make(chan error, 1)
		var out strings.Builder
		reload.Stdout, reload.Stderr = &out, &out
		if err := reload.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- reload.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("reload %d: %v: %s", i, err, out.String())
			}
		case <-h.exited:
			// The command waits a minute for a host that will not come.
			reload.Process.Kill()
			<-done
			t.Fatalf("reload %d: the host process ended: %v", i, h.exitError())
		}
		a.expect("Server restarted.")
		b.expect("Server restarted.")
		after := h.waitFor("the new image", func(st host.Status) bool {
			return st.Started.After(before.Started) && st.AccountsOnline == 2
		})
		if after.PID != before.PID {
			t.Fatalf("reload %d: host pid %d -> %d", i, before.PID, after.PID)
		}
		said := fmt.Sprintf("still here %d", i)
		a.send("say " + said)
		b.expect(`Gwen says, "` + said + `"`)
	}
	if p := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" }); p.PID != plugin.PID {
		t.Fatalf("plugin pid %d -> %d: it must be reattached, not restarted", plugin.PID, p.PID)
	}
	if a.isClosed() || b.isClosed() {
		t.Fatal("a client was dropped")
	}
	h.stopProcess()
	if err := h.exitError(); err != nil {
		t.Fatalf("host exited with %v", err)
	}
	names := []string{"portico.cpu.pprof"}
	for i := 1; i <= reloads; i++ {
		names = append(names, fmt.Sprintf("portico.reload%d.cpu.pprof", i))
	}
	for _, name := range names {
		if fi, err := os.Stat(filepath.Join(prof, name)); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s not written: %v", name, err)
		}
	}
}
