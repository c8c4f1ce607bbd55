package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/control"
	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/sdk/plugintest"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// binDir holds the binaries built once for every end-to-end test.
var binDir string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "portico-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binDir = dir
		for _, b := range [][2]string{
			{"portico", "github.com/portico-mud/portico/cmd/host"},
			{"portico-telnet", "github.com/portico-mud/portico/plugins/telnet"},
			{"portico-websocket", "github.com/portico-mud/portico/plugins/websocket"},
			{"portico-irc", "github.com/portico-mud/portico/plugins/irc"},
			{"portico-ssh", "github.com/portico-mud/portico/plugins/ssh"},
			{"portico-discord", "github.com/portico-mud/portico/plugins/discord"},
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b[0]), b[1])
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "build", b[1], err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// testHost is a real portico process with its telnet plugin.
type testHost struct {
	t          *testing.T
	dir        string
	configPath string
	telnetAddr string
	cmd        *exec.Cmd
	// umask and env, when set, are the host process's umask and extra
	// environment (hostOptions), at every start.
	umask   string
	env     []string
	log     *plugintest.LockedBuffer
	exited  chan struct{}
	mu      sync.Mutex
	exitErr error
}

// hostOptions shape a test host's config.
type hostOptions struct {
	// extra is appended to the config's plugins block (more plugins).
	extra string
	// telnet is appended to the telnet plugin's config block (its lines
	// indented six spaces).
	telnet string
	// limits replaces the limits block (its lines indented two spaces).
	// By default the limits that would slow tests with many connections
	// from one address are off.
	limits string
	// realArgon2 leaves the argon2 cost at its defaults (19 MiB, 2
	// passes) instead of the cheap one tests use, for tests about what
	// hashing costs.
	realArgon2 bool
	// umask, when set (e.g. "000"), is the host's umask: it is started
	// through sh, which sets it and execs portico.
	umask string
	// env is added to the host's environment.
	env []string
	// setup runs on the test's directory (the config's, holding data/)
	// before the host first starts.
	setup func(dir string)
	// blocks are top-level blocks added to the config (a log: block).
	blocks string
	// server is added to the server block (its lines indented two
	// spaces).
	server string
}

// testLimits turns off the limits that many test connections from
// 127.0.0.1 would trip; the limit tests set their own.
const testLimits = `  connection_rate: 0
  connections_per_ip: 0
  account_creations: 0
  create_attempts: 0
`

// startHost writes a config and starts `portico start` on it, waiting until
// the telnet plugin is running.
func startHost(t *testing.T) *testHost {
	return startHostWith(t, hostOptions{})
}

func startHostWith(t *testing.T, o hostOptions) *testHost {
	t.Helper()
	dir := t.TempDir()
	port := conntest.FreePort(t)
	limits := o.limits
	if limits == "" {
		limits = testLimits
	}
	argon2 := "  argon2_memory_kib: 256\n  argon2_time: 1\n"
	if o.realArgon2 {
		argon2 = ""
	}
	cfg := fmt.Sprintf(`server:
  name: TestGame
  data_dir: data
%s  reattach_grace: 20s
%slimits:
%s
%s
plugins:
  telnet:
    enabled: true
    config:
      listen: "127.0.0.1:%d"
%s%s`, argon2, o.server, limits, o.blocks, port, o.telnet, o.extra)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &testHost{t: t, dir: dir, configPath: path, telnetAddr: fmt.Sprintf("127.0.0.1:%d", port),
		umask: o.umask, env: o.env}
	if o.setup != nil {
		o.setup(dir)
	}
	h.start()
	t.Cleanup(func() {
		h.stopProcess()
		if t.Failed() {
			t.Logf("host log:\n%s", h.logText())
			for _, name := range []string{"telnet.log", "telnet2.log"} {
				if b, err := os.ReadFile(filepath.Join(dir, "data", "logs", name)); err == nil {
					t.Logf("%s:\n%s", name, b)
				}
			}
		}
	})
	h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	return h
}

// start runs `portico start` on the host's config (again, after a kill).
func (h *testHost) start() {
	h.t.Helper()
	h.log = &plugintest.LockedBuffer{}
	h.exited = make(chan struct{})
	h.cmd = exec.Command(filepath.Join(binDir, "portico"), "start", "--config", h.configPath)
	if h.umask != "" {
		// exec: the host keeps sh's pid, so signals and status reach it.
		h.cmd = exec.Command("/bin/sh", "-c", `umask "$0" && exec "$@"`, h.umask,
			filepath.Join(binDir, "portico"), "start", "--config", h.configPath)
	}
	if len(h.env) > 0 {
		h.cmd.Env = append(os.Environ(), h.env...)
	}
	h.cmd.Stdout = h.log
	h.cmd.Stderr = h.log
	if err := h.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	cmd, exited := h.cmd, h.exited
	go func() { h.setExit(cmd.Wait()); close(exited) }()
}

func (h *testHost) setExit(err error) {
	h.mu.Lock()
	h.exitErr = err
	h.mu.Unlock()
}

func (h *testHost) exitError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.exitErr
}

func (h *testHost) logText() string { return h.log.String() }

// stopProcess interrupts the host (a clean stop) and waits for it.
func (h *testHost) stopProcess() {
	select {
	case <-h.exited:
		return
	default:
	}
	h.cmd.Process.Signal(os.Interrupt)
	select {
	case <-h.exited:
	case <-time.After(15 * time.Second):
		h.cmd.Process.Kill()
		<-h.exited
	}
}

type pluginStatus struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	PID      int    `json:"pid"`
	Restarts int    `json:"restarts"`
}

// status asks the running host for its status over the control socket.
func (h *testHost) status() (host.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := control.Call(ctx, filepath.Join(h.dir, "data", "run", "control.sock"), control.Request{Cmd: "status"}, false)
	if err != nil {
		return host.Status{}, err
	}
	var st host.Status
	if err := json.Unmarshal(resp.Data, &st); err != nil {
		return host.Status{}, err
	}
	return st, nil
}

// sessions asks the running host for its sessions and their flags.
func (h *testHost) sessions() ([]host.SessionInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := control.Call(ctx, filepath.Join(h.dir, "data", "run", "control.sock"), control.Request{Cmd: "sessions"}, false)
	if err != nil {
		return nil, err
	}
	var list []host.SessionInfo
	if err := json.Unmarshal(resp.Data, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// waitFor polls cond until it holds or 20 s pass. Polling is the only way
// to watch another process's state here; every poll is bounded.
func (h *testHost) waitFor(what string, cond func(st host.Status) bool) host.Status {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last host.Status
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-h.exited:
			h.t.Fatalf("host exited while waiting for %s: %v\n%s", what, h.exitError(), h.logText())
		default:
		}
		st, err := h.status()
		if err == nil && cond(st) {
			return st
		}
		last, lastErr = st, err
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %s; last status %+v err %v", what, last, lastErr)
	return last
}

func (h *testHost) waitPlugin(name string, cond func(p pluginStatus) bool) pluginStatus {
	h.t.Helper()
	var found pluginStatus
	h.waitFor("plugin "+name, func(st host.Status) bool {
		for _, p := range st.Plugins {
			if p.Name == name {
				ps := pluginStatus{Name: p.Name, State: p.State, PID: p.PID, Restarts: p.Restarts}
				if cond(ps) {
					found = ps
					return true
				}
			}
		}
		return false
	})
	return found
}

// telnetClient is a raw telnet client that collects everything it reads.
type telnetClient struct {
	t    *testing.T
	conn net.Conn
	*plugintest.Output
	// sent counts the bytes written to conn (the output holds those read).
	sent atomic.Int64
}

func dialTelnet(t *testing.T, addr string) *telnetClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return wrapTelnet(t, conn)
}

// wrapTelnet makes a test client of an open connection.
func wrapTelnet(t *testing.T, conn net.Conn) *telnetClient {
	t.Helper()
	c := &telnetClient{t: t, conn: conn, Output: plugintest.NewOutput()}
	go c.Collect(conn)
	t.Cleanup(func() { conn.Close(); <-c.Closed() })
	return c
}

func (c *telnetClient) send(line string) {
	c.t.Helper()
	n, err := c.conn.Write([]byte(line + "\r\n"))
	c.sent.Add(int64(n))
	if err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

func (c *telnetClient) sendRaw(b []byte) {
	c.t.Helper()
	n, err := c.conn.Write(b)
	c.sent.Add(int64(n))
	if err != nil {
		c.t.Fatalf("send raw: %v", err)
	}
}

// expect waits until want appears in output not yet consumed, and consumes
// up to its end.
func (c *telnetClient) expect(want string) string {
	c.t.Helper()
	out, err := c.Await(want, 15*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// expectSeen waits until want appears anywhere in the output so far,
// consumed or not.
func (c *telnetClient) expectSeen(want string) {
	c.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		all := c.All()
		if strings.Contains(all, want) {
			return
		}
		select {
		case <-c.Updated():
		case <-timeout:
			c.t.Fatalf("never saw %q; output:\n%q", want, all)
		}
	}
}

// write sends a line without failing the test (for goroutines).
func (c *telnetClient) write(line string) error {
	n, err := c.conn.Write([]byte(line + "\r\n"))
	c.sent.Add(int64(n))
	return err
}

// isClosed reports whether the server closed the connection.
func (c *telnetClient) isClosed() bool {
	select {
	case <-c.Closed():
		return true
	default:
		return false
	}
}

// expectClosed waits for the server to close the connection.
func (c *telnetClient) expectClosed() {
	c.t.Helper()
	select {
	case <-c.Closed():
	case <-time.After(15 * time.Second):
		c.t.Fatal("connection not closed by the server")
	}
}

// login creates (if create is set) and logs in an account.
func (c *telnetClient) login(name, password string, create bool) {
	c.t.Helper()
	c.expect("Welcome to TestGame")
	if create {
		c.send("create " + name + " " + password)
		c.expect("A new account '" + name + "' was created. Welcome!")
	}
	c.send("connect " + name + " " + password)
	c.expect("You become " + name + ".")
	c.expect("Players here:")
}
