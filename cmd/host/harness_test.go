package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
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
	log     *lockedWriter
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
	port := freePort(t)
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
	h.log = &lockedWriter{w: &bytes.Buffer{}}
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

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
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
	*output
	// sent counts the bytes written to conn (len(buf) those read).
	sent atomic.Int64
}

// output collects what a peer sends (a socket, a child process's pipe) for
// the tests to wait on.
type output struct {
	mu  sync.Mutex
	buf []byte
	// seen is the offset up to which expect has consumed output.
	seen   int
	update chan struct{}
	closed chan struct{}
}

func newOutput() *output {
	return &output{update: make(chan struct{}, 1), closed: make(chan struct{})}
}

// collect reads r until it ends; closed is closed then.
func (o *output) collect(r io.Reader) {
	defer close(o.closed)
	b := make([]byte, 4096)
	for {
		n, err := r.Read(b)
		if n > 0 {
			o.mu.Lock()
			o.buf = append(o.buf, b[:n]...)
			o.mu.Unlock()
			select {
			case o.update <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return
		}
	}
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
	c := &telnetClient{t: t, conn: conn, output: newOutput()}
	go c.collect(conn)
	t.Cleanup(func() { conn.Close(); <-c.closed })
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
	out, err := c.await(want, 15*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// await is expect without failing the test, for use from goroutines.
func (c *output) await(want string, within time.Duration) (string, error) {
	timeout := time.After(within)
	for {
		c.mu.Lock()
		rest := string(c.buf[c.seen:])
		if i := strings.Index(rest, want); i >= 0 {
			c.seen += i + len(want)
			c.mu.Unlock()
			return rest[:i+len(want)], nil
		}
		c.mu.Unlock()
		select {
		case <-c.update:
		case <-c.closed:
			c.mu.Lock()
			rest := string(c.buf[c.seen:])
			c.mu.Unlock()
			if strings.Contains(rest, want) {
				continue
			}
			return "", fmt.Errorf("connection closed before %q; unread output:\n%q", want, rest)
		case <-timeout:
			return "", fmt.Errorf("timed out waiting for %q; unread output:\n%q", want, rest)
		}
	}
}

// expectSeen waits until want appears anywhere in the output so far,
// consumed or not.
func (c *telnetClient) expectSeen(want string) {
	c.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		c.mu.Lock()
		all := string(c.buf)
		c.mu.Unlock()
		if strings.Contains(all, want) {
			return
		}
		select {
		case <-c.update:
		case <-timeout:
			c.t.Fatalf("never saw %q; output:\n%q", want, all)
		}
	}
}

// mark returns the current end of the output, for since.
func (c *telnetClient) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.buf)
}

// since returns everything received after mark.
func (c *telnetClient) since(mark int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf[mark:])
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
	case <-c.closed:
		return true
	default:
		return false
	}
}

// expectClosed waits for the server to close the connection.
func (c *telnetClient) expectClosed() {
	c.t.Helper()
	select {
	case <-c.closed:
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
