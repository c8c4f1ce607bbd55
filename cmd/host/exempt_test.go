package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/sdk/plugintest"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// TestLimitsExemptAndClear: an address in limits.exempt is held to none
// of the per-address limits (connections, account creations, login
// failures) while another address is; in prompt mode a throttled login is
// told so before the password is asked for; `portico limits clear` (by
// address and by account, with the host running and without it) and
// @throttle/clear lift a lockout.
func TestLimitsExemptAndClear(t *testing.T) {
	h := startHostWith(t, hostOptions{limits: `  connection_rate: 0
  connections_per_ip: 1
  login_failures: 2
  address_login_failures: 3
  account_creations: 1
  create_attempts: 0
  exempt: [127.0.0.2]
`})
	createAccount(t, h, "Root", "rootpass1", true)
	// Exempt: three connections, two creations, three failures, then in.
	var ex []*telnetClient
	for range 3 {
		c := dialFrom(t, "127.0.0.2", h.telnetAddr)
		c.expect("Welcome to TestGame")
		ex = append(ex, c)
	}
	ex[0].send("create Alice alicepass1")
	ex[0].expect("A new account 'Alice' was created.")
	ex[0].send("create Bella bellapass1")
	ex[0].expect("A new account 'Bella' was created.")
	failLogins(ex[1], "Alice", 3)
	ex[1].send("connect Alice alicepass1")
	ex[1].expect("You become Alice.")

	// Not exempt: one connection, one creation, two failures.
	a := dialFrom(t, "127.0.0.3", h.telnetAddr)
	a.expect("Welcome to TestGame")
	b := dialFrom(t, "127.0.0.3", h.telnetAddr)
	b.expect("Too many connections from your address.")
	b.expectClosed()
	a.send("create Cora corapass1")
	a.expect("A new account 'Cora' was created.")
	a.send("create Dana danapass1")
	a.expect("You are creating too many accounts.")
	failLogins(a, "Bella", 2)
	// Prompt mode: refused before the password is asked for.
	a.send("connect Bella")
	out := a.expect("Too many login failures")
	if strings.Contains(out, "Password:") {
		t.Fatalf("the password was asked for before the throttle refused: %q", out)
	}

	// limits clear by address, with the host running.
	mustPortico(t, h, "", "cleared 3 throttle counter(s) of 127.0.0.3", "limits", "clear", "127.0.0.3")
	a.send("create Dana danapass1")
	a.expect("A new account 'Dana' was created.")
	a.send("connect Bella bellapass1")
	a.expect("You become Bella.")

	// @throttle/clear by account from the game.
	c := dialFrom(t, "127.0.0.4", h.telnetAddr)
	c.expect("Welcome to TestGame")
	failLogins(c, "Cora", 2)
	c.send("connect Cora corapass1")
	c.expect("Too many login failures")
	ex[2].send("connect Root rootpass1")
	ex[2].expect("You become Root.")
	ex[2].send("@throttle/clear Cora")
	ex[2].expect("Cleared 2 throttle counter(s) of Cora.")
	c.send("connect Cora corapass1")
	c.expect("You become Cora.")

	// Without a host: the counters kept in the database are cleared there.
	d := dialFrom(t, "127.0.0.5", h.telnetAddr)
	d.expect("Welcome to TestGame")
	failLogins(d, "Dana", 2)
	h.stopProcess()
	mustPortico(t, h, "", "cleared 2 throttle counter(s) of Dana", "limits", "clear", "Dana")
	mustPortico(t, h, "", "cleared 0 throttle counter(s) of Dana", "limits", "clear", "Dana")
}

// failLogins has c fail n logins to name with a wrong password.
func failLogins(c *telnetClient, name string, n int) {
	c.t.Helper()
	for range n {
		c.send("connect " + name + " wrongpass")
		c.expect("Username and/or password is incorrect.")
	}
}

// wsFrom dials the websocket at url from the loopback address local,
// with extra request headers.
func wsFrom(t *testing.T, local, url string, header http.Header) *wsConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client, HTTPHeader: header})
	if err != nil {
		t.Fatalf("dial %s from %s: %v", url, local, err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &wsConn{t: t, c: c}
}

// startProxy puts a reverse proxy in front of the webclient at backend
// (host:port) and returns its address: nginx when it is installed (CI
// installs it), else Go's httputil.ReverseProxy. Both connect to the
// backend from 127.0.0.1 and add the client's address to X-Forwarded-For.
func startProxy(t *testing.T, backend string) string {
	t.Helper()
	port := conntest.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx = "/usr/sbin/nginx"
		if _, err := os.Stat(nginx); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("nginx is not installed, and CI=true: .ci/run installs it")
			}
			t.Log("nginx is not installed: using httputil.ReverseProxy")
			return startGoProxy(t, addr, backend)
		}
	}
	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // its workers read the temp dir, which is root's
	}
	conf := fmt.Sprintf(`daemon off;
%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://%[4]s;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`, user, dir, addr, backend)
	writeFile(t, filepath.Join(dir, "nginx.conf"), conf)
	cmd := exec.Command(nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	var out plugintest.LockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx:\n%s\n%s", out.String(), b)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr
		}
		select {
		case err := <-done:
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s\n%s", err, out.String(), b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("nginx did not listen in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startGoProxy is startProxy's stand-in for nginx.
func startGoProxy(t *testing.T, addr, backend string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse("http://" + backend)
	srv := &http.Server{Handler: httputil.NewSingleHostReverseProxy(target)}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return addr
}

// TestTrustedProxyThroughReverseProxy: behind a reverse proxy listed in
// limits.trusted_proxies, the websocket plugin takes each client's address
// from X-Forwarded-For, so that every per-address limit counts the client:
// two clients behind the one proxy each create an account (one creation
// per address) and hold a connection (one per address), a second
// connection from one of them is refused, and the host's sessions show the
// clients' addresses. A client that connects directly is not believed
// when it sends the header itself.
func TestTrustedProxyThroughReverseProxy(t *testing.T) {
	wsPort := conntest.FreePort(t)
	h := startHostWith(t, hostOptions{
		limits: `  connection_rate: 0
  connections_per_ip: 1
  account_creations: 1
  create_attempts: 0
  trusted_proxies: [127.0.0.1]
`,
		extra: fmt.Sprintf("  websocket:\n    enabled: true\n    path: %s\n    config:\n      listen: \"127.0.0.1:%d\"\n",
			filepath.Join(binDir, "portico-websocket"), wsPort),
	})
	h.waitPlugin("websocket", func(p pluginStatus) bool { return p.State == "running" })
	proxy := "ws://" + startProxy(t, fmt.Sprintf("127.0.0.1:%d", wsPort)) + "/ws"

	a := wsFrom(t, "127.0.0.6", proxy, nil)
	a.expect("Welcome to TestGame")
	b := wsFrom(t, "127.0.0.7", proxy, nil)
	b.expect("Welcome to TestGame")
	a.command("create Quinn quinnpass1")
	a.expect("A new account &#39;Quinn&#39; was created.")
	b.command("create Rhea rheapass11")
	b.expect("A new account &#39;Rhea&#39; was created.")
	a.command("create Sage sagepass11")
	a.expect("You are creating too many accounts.")
	a2 := wsFrom(t, "127.0.0.6", proxy, nil)
	a2.expect("Too many connections from your address.")

	// A direct client's own header names nobody.
	direct := wsFrom(t, "127.0.0.8", fmt.Sprintf("ws://127.0.0.1:%d/ws", wsPort),
		http.Header{"X-Forwarded-For": {"198.51.100.9"}})
	direct.expect("Welcome to TestGame")

	list := waitSessions(t, h, "three websocket sessions", func(l []host.SessionInfo) bool { return len(l) == 3 })
	var addrs []string
	for _, s := range list {
		addrs = append(addrs, hostPart(s.Address))
	}
	slices.Sort(addrs)
	got := strings.Join(addrs, " ")
	if got != "127.0.0.6 127.0.0.7 127.0.0.8" {
		t.Fatalf("session addresses %q, want the clients' 127.0.0.6 127.0.0.7 127.0.0.8", got)
	}
}

// hostPart is an address without its port.
func hostPart(a string) string {
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return a
}
