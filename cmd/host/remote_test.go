package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/portico-mud/portico/sdk/plugintest"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/core/pki"
	"github.com/portico-mud/portico/sdk/identity"
)

// Remote plugins: a telnet plugin started by hand (`portico-telnet
// --connect --identity`) dials the host's server.portal_listen over TCP
// with mutual TLS, through a TCP proxy of the test's own that the test can
// cut.

// cutProxy forwards TCP connections to target until cut: then it closes
// every connection and refuses new ones until restored.
type cutProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(func() {
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			if !p.track(c, up) {
				continue
			}
			p.wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer p.wg.Done()
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
}

// track records a pair of connections, unless the proxy was cut meanwhile.
func (p *cutProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// cut closes every connection and stops listening: a dial is refused.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// restore listens again on the same address.
func (p *cutProxy) restore() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// edgeProcess is a plugin started by hand, as an operator starts one on an
// edge machine.
type edgeProcess struct {
	cmd    *exec.Cmd
	out    *plugintest.Output
	exited chan struct{}
}

// startEdge runs portico-telnet --connect addr --identity dir.
func startEdge(t *testing.T, addr, dir string) *edgeProcess {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "portico-telnet"), "--connect", addr, "--identity", dir)
	// An edge has no host environment: it logs to its stderr.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	e := &edgeProcess{cmd: cmd, out: plugintest.NewOutput(), exited: make(chan struct{})}
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	go e.out.Collect(r)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		w.Close()
		close(e.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-e.exited
		}
		if t.Failed() {
			t.Logf("edge output:\n%s", e.out.All())
		}
	})
	return e
}

// issueIdentity runs `portico portal issue NAME --out DIR`, as an operator does.
func issueIdentity(t *testing.T, configPath, name, out string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "portico"), "portal", "issue", name, "--out", out, "--config", configPath)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("portal issue %s: %v\n%s", name, err, b)
	}
}

// remoteHost starts a host with server.portal_listen and a remote telnet
// block edge1 (its players on edgeAddr); the identity of edge1 is issued
// into ids/edge1 before the host starts.
func remoteHost(t *testing.T) (h *testHost, portal, edgeAddr, ids string) {
	t.Helper()
	portal = fmt.Sprintf("127.0.0.1:%d", conntest.FreePort(t))
	edgeAddr = fmt.Sprintf("127.0.0.1:%d", conntest.FreePort(t))
	h = startHostWith(t, hostOptions{
		server: fmt.Sprintf("  portal_listen: %q\n", portal),
		// wrongproto is a remote block for another protocol.
		extra: fmt.Sprintf(`  edge1:
    enabled: true
    remote: true
    protocol: telnet
    config:
      listen: %q
  wrongproto:
    enabled: true
    remote: true
    protocol: websocket
    config:
      listen: "127.0.0.1:%d"
`, edgeAddr, conntest.FreePort(t)),
		setup: func(dir string) {
			ids = filepath.Join(dir, "ids")
			issueIdentity(t, filepath.Join(dir, "config.yaml"), "edge1", filepath.Join(ids, "edge1"))
		},
	})
	return h, portal, edgeAddr, ids
}

// remoteStatus returns plugin name's status.
func remoteStatus(t *testing.T, h *testHost, name string, cond func(p edgeState) bool) edgeState {
	t.Helper()
	var found edgeState
	h.waitFor("plugin "+name, func(st host.Status) bool {
		for _, p := range st.Plugins {
			if p.Name == name && cond(edgeState{State: p.State, Address: p.Address, Remote: p.Remote}) {
				found = edgeState{State: p.State, Address: p.Address, Remote: p.Remote}
				return true
			}
		}
		return false
	})
	return found
}

type edgeState struct {
	State   string
	Address string
	Remote  bool
}

// TestRemotePluginKeepsPlayers: players on a remote telnet plugin stay
// connected, logged in and able to talk through a 5 s cut of its
// connection to the host, a `portico reload`, and a SIGKILL of the host
// followed by `portico start`; what they typed meanwhile is answered.
func TestRemotePluginKeepsPlayers(t *testing.T) {
	h, portal, edgeAddr, ids := remoteHost(t)
	proxy := startCutProxy(t, portal)
	startEdge(t, proxy.addr, filepath.Join(ids, "edge1"))
	st := remoteStatus(t, h, "edge1", func(p edgeState) bool { return p.State == "running" })
	if !st.Remote || !strings.HasPrefix(st.Address, "127.0.0.1:") {
		t.Fatalf("status of the remote plugin: %+v", st)
	}
	a := dialTelnet(t, edgeAddr)
	a.login("Erin", "erinpass1", true)
	b := dialTelnet(t, edgeAddr)
	b.login("Finn", "finnpass1", true)
	// And a player on the host's local telnet plugin: one game.
	c := dialTelnet(t, h.telnetAddr)
	c.login("Gwen", "gwenpass1", true)
	a.send("say hello from the edge")
	c.expect(`Erin says, "hello from the edge"`)

	// (a) The connection is cut for 5 s: the host waits, the plugin keeps
	// its players and their input.
	proxy.cut()
	a.expect("The server is restarting; please wait a moment.")
	b.expect("The server is restarting; please wait a moment.")
	remoteStatus(t, h, "edge1", func(p edgeState) bool { return p.State == "waiting" && p.Address != "" })
	a.send("say typed during the cut")
	time.Sleep(5 * time.Second) // the cut itself
	proxy.restore()
	a.expect(`You say, "typed during the cut"`)
	b.expect(`Erin says, "typed during the cut"`)
	c.expect(`Erin says, "typed during the cut"`)
	remoteStatus(t, h, "edge1", func(p edgeState) bool { return p.State == "running" })
	b.send("say after the cut")
	a.expect(`Finn says, "after the cut"`)

	// (b) A reload: the host's connections end with its image; the plugin
	// redials the next one, which rebuilds its sessions.
	reload := exec.Command(filepath.Join(binDir, "portico"), "reload", "--config", h.configPath)
	if out, err := reload.CombinedOutput(); err != nil {
		t.Fatalf("portico reload: %v\n%s", err, out)
	}
	a.expect("Server restarted.")
	b.expect("Server restarted.")
	remoteStatus(t, h, "edge1", func(p edgeState) bool { return p.State == "running" })
	a.send("say after the reload")
	b.expect(`Erin says, "after the reload"`)
	c.expect(`Erin says, "after the reload"`)

	// (c) The host is killed and started again.
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-h.exited
	a.expect("The server is restarting; please wait a moment.")
	a.send("say anyone there?")
	h.start()
	a.expect(`You say, "anyone there?"`)
	b.expect(`Erin says, "anyone there?"`)
	remoteStatus(t, h, "edge1", func(p edgeState) bool { return p.State == "running" })
	b.send("say still here")
	a.expect(`Finn says, "still here"`)
	st2 := h.waitFor("everyone back", func(st host.Status) bool { return st.AccountsOnline == 3 })
	if st2.Sessions != 3 {
		t.Fatalf("sessions after the host's restart: %+v", st2)
	}
	if a.isClosed() || b.isClosed() {
		t.Fatal("a player on the edge was dropped")
	}
}

// TestRemotePluginRefused: an edge whose certificate another CA issued,
// one with no client certificate, one whose name is not a remote block, a
// second one for a name already connected, and one revoked (while
// connected: its connection closes at once) are refused with a clear log
// line, and never configured: their players cannot get in. So is one that
// speaks another protocol than its block says (after Configure, before any
// session). The host will not restart a remote plugin.
func TestRemotePluginRefused(t *testing.T) {
	h, portal, edgeAddr, ids := remoteHost(t)
	caPEM, err := os.ReadFile(filepath.Join(ids, "edge1", identity.CAFile))
	if err != nil {
		t.Fatal(err)
	}

	// Another CA's certificate for edge1, with the host's CA to trust it.
	other, err := pki.Open(filepath.Join(t.TempDir(), "pki"))
	if err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(ids, "foreign")
	if err := other.Issue("edge1", foreign); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(foreign, identity.CAFile), string(caPEM))
	fe := startEdge(t, portal, foreign)
	waitLog(t, h, "portal: refused edge from 127.0.0.1:")
	waitLog(t, h, "certificate signed by unknown authority")

	// No client certificate at all.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := tls.Dial("tcp", portal, &tls.Config{RootCAs: pool, ServerName: identity.HostName, MinVersion: tls.VersionTLS13})
	if err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection without a client certificate was not refused: %v", err)
	}
	waitLog(t, h, "client didn't provide a certificate")

	// A certificate of this CA for a block that is not remote.
	issueIdentity(t, h.configPath, "telnet", filepath.Join(ids, "telnet"))
	te := startEdge(t, portal, filepath.Join(ids, "telnet"))
	waitLog(t, h, "portal: refused edge telnet from 127.0.0.1:")

	// A telnet plugin for a block that says protocol: websocket.
	issueIdentity(t, h.configPath, "wrongproto", filepath.Join(ids, "wrongproto"))
	startEdge(t, portal, filepath.Join(ids, "wrongproto"))
	waitLog(t, h, `portal: refused edge wrongproto from 127.0.0.1:`)
	waitLog(t, h, `it speaks protocol \"telnet\", but plugins.wrongproto.protocol is \"websocket\"`)
	remoteStatus(t, h, "wrongproto", func(p edgeState) bool { return p.State == "waiting" })

	// None of them was configured: edge1's players find nobody there.
	if c, err := net.DialTimeout("tcp", edgeAddr, 2*time.Second); err == nil {
		c.Close()
		t.Fatal("a refused edge listens for players")
	}
	for _, e := range []*edgeProcess{fe, te} {
		if strings.Contains(e.out.All(), "msg=configured") {
			t.Fatalf("a refused edge was configured:\n%s", e.out.All())
		}
	}
	remoteStatus(t, h, "edge1", func(p edgeState) bool { return p.State == "waiting" && p.Address == "" })

	// The real edge1, connected, then revoked: its connection closes at
	// once, and it is refused when it redials.
	good := startEdge(t, portal, filepath.Join(ids, "edge1"))
	remoteStatus(t, h, "edge1", func(p edgeState) bool { return p.State == "running" })
	if !strings.Contains(good.out.All(), "msg=configured") {
		// What the refused edges are checked against above.
		t.Fatalf("the accepted edge does not log its Configure as expected:\n%s", good.out.All())
	}
	a := dialTelnet(t, edgeAddr)
	a.login("Erin", "erinpass1", true)
	// A second edge with edge1's identity while edge1 answers: refused.
	twin := startEdge(t, portal, filepath.Join(ids, "edge1"))
	waitLog(t, h, "portal: refused edge edge1 from 127.0.0.1:")
	waitLog(t, h, ": already connected from 127.0.0.1:")
	if strings.Contains(twin.out.All(), "msg=configured") {
		t.Fatalf("a second edge1 was configured:\n%s", twin.out.All())
	}
	_ = twin.cmd.Process.Kill()
	// The host cannot restart a plugin it did not start.
	if out, ok := portico(t, h, "", "plugin", "restart", "edge1"); ok || !strings.Contains(out, "plugins.edge1 is a remote plugin") {
		t.Fatalf("plugin restart of a remote plugin: ok %v\n%s", ok, out)
	}
	revoke := exec.Command(filepath.Join(binDir, "portico"), "portal", "revoke", "edge1", "--config", h.configPath)
	if out, err := revoke.CombinedOutput(); err != nil {
		t.Fatalf("portal revoke: %v\n%s", err, out)
	}
	waitLog(t, h, "portal: closed edge edge1 from 127.0.0.1:")
	a.expect("The server is restarting; please wait a moment.")
	remoteStatus(t, h, "edge1", func(p edgeState) bool { return p.State == "waiting" })
	h.waitFor("the revoked edge's sessions gone", func(st host.Status) bool { return st.AccountsOnline == 0 })
	mark := len(h.logText())
	waitLogAfter(t, h, mark, "revoked")
	// A new player on the revoked edge never reaches the game.
	b := dialTelnet(t, edgeAddr)
	if _, err := b.Await("Welcome to TestGame", 2*time.Second); err == nil {
		t.Fatal("a player reached the game through a revoked edge")
	}
}

// waitLogAfter waits until the host's log says want after offset mark.
func waitLogAfter(t *testing.T, h *testHost, mark int, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		text := h.logText()
		if len(text) > mark && strings.Contains(text[mark:], want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host never logged %q after offset %d:\n%s", want, mark, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
