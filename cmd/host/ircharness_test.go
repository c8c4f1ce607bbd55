package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/plugintest"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// ngircdPath is Debian's ngircd, the real IRC server of the bridge tests.
const ngircdPath = "/usr/sbin/ngircd"

// ngircdServer is a real ngIRCd on a loopback port, started by the test
// from a generated config.
type ngircdServer struct {
	t      *testing.T
	port   int
	conf   string
	cmd    *exec.Cmd
	log    *plugintest.LockedBuffer
	exited chan struct{}
}

// startNgircd runs ngIRCd in the foreground (-n) on a free loopback port.
// Without the binary the test is skipped, except under CI, where .ci/run
// installs it and its absence is a failure.
func startNgircd(t *testing.T) *ngircdServer {
	t.Helper()
	if _, err := os.Stat(ngircdPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing; .ci/run installs the Debian package ngircd", ngircdPath)
		}
		t.Skipf("%s not installed (Debian package ngircd); skipping the IRC bridge test", ngircdPath)
	}
	dir := t.TempDir()
	n := &ngircdServer{t: t, port: conntest.FreePort(t), conf: filepath.Join(dir, "ngircd.conf")}
	// No PidFile: ngIRCd writes it after dropping root to "nobody", which
	// cannot write in the test's directory. PAM, DNS and IDENT are off so
	// that registration is immediate and needs nothing from the machine.
	conf := fmt.Sprintf(`[Global]
	Name = irc.portico.test
	Info = Portico bridge test server
	Listen = 127.0.0.1
	Ports = %d
	MotdPhrase = Portico test
	ServerUID = 65534
	ServerGID = 65534
[Limits]
	MaxNickLength = 30
	MaxConnectionsIP = 0
	PingTimeout = 120
	PongTimeout = 20
[Options]
	PAM = no
	DNS = no
	Ident = no
`, n.port)
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.start()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("ngircd log:\n%s", n.log.String())
		}
	})
	return n
}

// start runs ngIRCd (again, after kill) and waits until it accepts
// connections.
func (n *ngircdServer) start() {
	n.t.Helper()
	n.log = &plugintest.LockedBuffer{}
	n.exited = make(chan struct{})
	n.cmd = exec.Command(ngircdPath, "-n", "-f", n.conf)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	cmd, exited := n.cmd, n.exited
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", n.addr(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			n.t.Fatalf("ngircd exited at start:\n%s", n.log.String())
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("ngircd does not listen on %s: %v\n%s", n.addr(), err, n.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *ngircdServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", n.port) }

// kill ends ngIRCd at once (SIGKILL): every connection to it breaks
// without a goodbye, as in a crash.
func (n *ngircdServer) kill() {
	select {
	case <-n.exited:
		return
	default:
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// ircClient is a raw-socket IRC user: it registers, joins a channel and
// collects every line it reads.
type ircClient struct {
	t    *testing.T
	nick string
	conn net.Conn

	mu     sync.Mutex
	lines  []string
	seen   int
	update chan struct{}
	closed chan struct{}
}

// dialIRC connects nick to the server at addr, registers and joins
// channel.
func dialIRC(t *testing.T, addr, nick, channel string) *ircClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &ircClient{t: t, nick: nick, conn: conn, update: make(chan struct{}, 1), closed: make(chan struct{})}
	go func() {
		defer close(c.closed)
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			line := strings.TrimSuffix(sc.Text(), "\r")
			// Answer the server's keepalive, as any client does.
			if tok, ok := strings.CutPrefix(line, "PING "); ok {
				fmt.Fprintf(conn, "PONG %s\r\n", tok)
			}
			c.mu.Lock()
			c.lines = append(c.lines, line)
			c.mu.Unlock()
			select {
			case c.update <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-c.closed })
	c.send("NICK " + nick)
	c.send("USER " + nick + " 0 * :Portico test user")
	c.expect(" 001 " + nick + " ")
	c.send("JOIN " + channel)
	c.expect(" 366 " + nick + " " + channel + " ")
	return c
}

func (c *ircClient) send(line string) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.conn, "%s\r\n", line); err != nil {
		c.t.Fatalf("irc client %s: send %q: %v", c.nick, line, err)
	}
}

// expect waits for a line not yet consumed that contains want, and
// consumes up to it.
func (c *ircClient) expect(want string) string {
	c.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		c.mu.Lock()
		for i := c.seen; i < len(c.lines); i++ {
			if strings.Contains(c.lines[i], want) {
				c.seen = i + 1
				line := c.lines[i]
				c.mu.Unlock()
				return line
			}
		}
		c.mu.Unlock()
		select {
		case <-c.update:
		case <-c.closed:
			c.mu.Lock()
			rest := strings.Join(c.lines[c.seen:], "\n")
			c.mu.Unlock()
			if !strings.Contains(rest, want) {
				c.t.Fatalf("irc client %s: connection closed before %q; unread:\n%s", c.nick, want, rest)
			}
		case <-deadline:
			c.mu.Lock()
			rest := strings.Join(c.lines[c.seen:], "\n")
			c.mu.Unlock()
			c.t.Fatalf("irc client %s: timed out waiting for %q; unread:\n%s", c.nick, want, rest)
		}
	}
}

// mark returns how many lines have arrived, for since.
func (c *ircClient) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

// since returns the lines that arrived after mark.
func (c *ircClient) since(mark int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines[mark:]...)
}

// waitMember polls NAMES until nick is on channel (the bot joins on its
// own schedule; the server's NAMES answer is the only way to ask).
func (c *ircClient) waitMember(channel, nick string) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		from := c.seen
		c.mu.Unlock()
		c.send("NAMES " + channel)
		line := c.expect(" 366 " + c.nick + " " + channel + " ")
		c.mu.Lock()
		found := false
		for _, l := range c.lines[from:c.seen] {
			if strings.Contains(l, " 353 ") && strings.Contains(l, " "+channel+" :") {
				for _, name := range strings.Fields(l[strings.LastIndex(l, ":")+1:]) {
					if strings.TrimLeft(name, "~&@%+") == nick {
						found = true
					}
				}
			}
		}
		c.mu.Unlock()
		if found {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("irc client %s: %s never joined %s (last %q)", c.nick, nick, channel, line)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runPortico runs the portico CLI on the host's config with stdin, and
// returns its output.
func runPortico(t *testing.T, h *testHost, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "portico"), append(args, "--config", h.configPath)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("portico %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
