package main

import (
	"fmt"
	"math/rand"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// dialFrom connects to addr from a given loopback address, so that tests
// can play several clients' addresses on one machine.
func dialFrom(t *testing.T, local, addr string) *telnetClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return wrapTelnet(t, conn)
}

// TestLimits shows each limit against the real binaries, with what the
// client is told.
func TestLimits(t *testing.T) {
	h := startHostWith(t, hostOptions{limits: `  connection_rate: 1
  connections_per_ip: 3
  command_rate: 5
  max_input_length: 50
  login_failures: 3
  login_failure_window: 5m
  account_creations: 1
  account_creation_window: 10m
  password_min_length: 8
`})
	// Connection rate: past one a second, clients queue and are told.
	a := dialFrom(t, "127.0.0.2", h.telnetAddr)
	b := dialFrom(t, "127.0.0.2", h.telnetAddr)
	c := dialFrom(t, "127.0.0.2", h.telnetAddr)
	a.expect("Welcome to TestGame")
	b.expect("Welcome to TestGame")
	c.expect("Welcome to TestGame")
	// One a second: of three quick connections, those the plugin took
	// after the first waited, and were told.
	const queued = "DoS protection is active. You are queued to connect in"
	waited := 0
	for _, cl := range []*telnetClient{a, b, c} {
		if strings.Contains(cl.Since(0), queued) {
			waited++
		}
	}
	if waited == 0 || waited == 3 {
		t.Fatalf("%d of three quick connections were queued; want one or two", waited)
	}

	// Connections per address: the fourth from one address is refused.
	d := dialFrom(t, "127.0.0.2", h.telnetAddr)
	d.expect("Too many connections from your address.")
	d.expectClosed()

	// Password policy and account-creation throttle (per address).
	a.send("create Mia short")
	a.expect("This password is too short. It must contain at least 8 characters.")
	a.send("create Mia miapassword")
	a.expect("A new account 'Mia' was created.")
	a.send("create Noah noahpassword")
	a.expect("You are creating too many accounts. Please log into an existing account.")

	// Login failures: after three from an address, even the right
	// password is refused there.
	for range 3 {
		b.send("connect Mia wrongpassword")
		b.expect("Username and/or password is incorrect.")
	}
	b.send("connect Mia miapassword")
	b.expect("Too many login failures; please try again in a few minutes.")
	// The owner, from an address that has not failed, gets in: failures
	// from one address do not lock an account out everywhere.
	e := dialFrom(t, "127.0.0.3", h.telnetAddr)
	e.expect("Welcome to TestGame")
	e.send("connect Mia miapassword")
	e.expect("You become Mia.")

	// Input length.
	c.send(strings.Repeat("x", 60))
	c.expect("You entered a string that was too long. Please break it up into multiple parts.")

	// Command rate: a burst past five a second is dropped, with a message,
	// and the session goes on.
	var burst strings.Builder
	for i := range 30 {
		fmt.Fprintf(&burst, "ping %d\r\n", i)
	}
	c.sendRaw([]byte(burst.String()))
	c.expect("You entered commands too fast. Wait a moment and try again.")
	time.Sleep(1100 * time.Millisecond) // let the bucket refill: a rate is about time
	c.send("ping after")
	c.expect("pong after")
}

// TestIdleTimeout: an idle session is warned, then dropped; "idle" keeps
// another alive.
func TestIdleTimeout(t *testing.T) {
	h := startHostWith(t, hostOptions{})
	cfg := strings.Replace(readFile(t, h.configPath), "  reattach_grace: 20s\n", "  reattach_grace: 20s\n  idle_timeout: 3s\n", 1)
	writeFile(t, h.configPath, cfg)
	waitLog(t, h, "config: applied")
	sleepy := dialTelnet(t, h.telnetAddr)
	sleepy.login("Olga", "olgapassword", true)
	awake := dialTelnet(t, h.telnetAddr)
	awake.login("Pete", "petepassword", true)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = awake.write("idle")
			}
		}
	}()
	sleepy.expect("You have been idle for a while and will be disconnected soon")
	sleepy.expect("idle timeout exceeded")
	sleepy.expectClosed()
	close(stop)
	wg.Wait()
	if awake.isClosed() {
		t.Fatal("a session sending idle was dropped")
	}
}

// TestBanAndBoot: an admin boots a player, bans an account and an address.
func TestBanAndBoot(t *testing.T) {
	h := startHost(t)
	createAccount(t, h, "Root", "rootpassword", true)
	admin := dialTelnet(t, h.telnetAddr)
	admin.login("Root", "rootpassword", false)
	victim := dialFrom(t, "127.0.0.4", h.telnetAddr)
	victim.login("Quinn", "quinnpassword", true)

	admin.send("@boot Quinn = be nice")
	victim.expect("You have been disconnected by Root. Reason: be nice")
	victim.expectClosed()
	admin.expect("Booted 1 session(s) of Quinn.")

	admin.send("@ban Quinn = spamming")
	admin.expect("Banned account Quinn.")
	again := dialFrom(t, "127.0.0.4", h.telnetAddr)
	again.expect("Welcome to TestGame")
	again.send("connect Quinn quinnpassword")
	again.expect("You have been banned and cannot continue from here.")
	again.expectClosed()

	admin.send("@ban 127.0.0.4")
	admin.expect("Banned address 127.0.0.4/32.")
	refused := dialFrom(t, "127.0.0.4", h.telnetAddr)
	refused.expect("You have been banned and cannot continue from here.")
	refused.expectClosed()
	admin.send("@ban")
	admin.expect("Reason")
	admin.send("@unban 127.0.0.4")
	admin.expect("Unbanned 127.0.0.4.")
	ok := dialFrom(t, "127.0.0.4", h.telnetAddr)
	ok.expect("Welcome to TestGame")
	if admin.isClosed() {
		t.Fatal("the admin was dropped")
	}
}

// TestFlood: 2,000 connection attempts and 10,000 junk lines while two
// players keep talking: every player's command is answered and nothing
// goes down. Bounded in time; prints the figures.
func TestFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("a flood takes a while")
	}
	h := startHostWith(t, hostOptions{limits: "  account_creations: 0\n"})
	p1 := dialTelnet(t, h.telnetAddr)
	p1.login("Rita", "ritapassword", true)
	p2 := dialTelnet(t, h.telnetAddr)
	p2.login("Sam", "sampassword", true)
	pluginPID := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" }).PID

	var attempts, refused, queued, accepted atomic.Int64
	var junkSent atomic.Int64
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	var wg sync.WaitGroup
	// Junk flood: 10,000 lines of garbage from three clients, connected
	// before the connection flood fills the queue.
	junkConns := make([]net.Conn, 3)
	for c := range junkConns {
		conn, err := net.DialTimeout("tcp", h.telnetAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		junkConns[c] = conn
	}
	for c, conn := range junkConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			go func() { _, _ = io_Discard(conn) }()
			rng := rand.New(rand.NewSource(int64(c)))
			line := make([]byte, 80)
			for i := 0; i < 3334 && time.Now().Before(deadline); i++ {
				for j := range line {
					line[j] = byte(rng.Intn(256))
				}
				line[len(line)-2], line[len(line)-1] = '\r', '\n'
				_ = conn.SetWriteDeadline(deadline)
				if _, err := conn.Write(line); err != nil {
					t.Logf("junk client %d after %d lines: %v", c, i, err)
					return
				}
				junkSent.Add(1)
			}
		}()
	}
	// Connection flood: 2,000 attempts from eight addresses, 64 at a time.
	sem := make(chan struct{}, 64)
	for i := range 2000 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			attempts.Add(1)
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(10+i%8))}}
			conn, err := d.Dial("tcp", h.telnetAddr)
			if err != nil {
				refused.Add(1)
				return
			}
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			buf := make([]byte, 512)
			n, _ := conn.Read(buf)
			got := string(buf[:n])
			switch {
			case strings.Contains(got, "Too many connections"), strings.Contains(got, "too busy"):
				refused.Add(1)
			case strings.Contains(got, "queued"):
				queued.Add(1)
			default:
				accepted.Add(1)
			}
		}()
	}
	// Meanwhile the players talk; every line must be answered.
	var maxWait time.Duration
	said := 0
	for i := 0; time.Since(start) < 3*time.Second || i < 10; i++ {
		t0 := time.Now()
		msg := fmt.Sprintf("still talking %d", i)
		p1.send("say " + msg)
		p2.expect(`Rita says, "` + msg + `"`)
		maxWait = max(maxWait, time.Since(t0))
		said++
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	p2.send("say done")
	p1.expect(`Sam says, "done"`)
	st := h.waitFor("still up", func(hostStatus) bool { return true })
	if p := h.waitPlugin("telnet", func(p pluginStatus) bool { return true }); p.PID != pluginPID || p.State != "running" {
		t.Fatalf("the telnet plugin went down: %+v (pid was %d)", p, pluginPID)
	}
	t.Logf("flood: %d connection attempts (%d accepted, %d queued, %d refused), %d junk lines, in %v; "+
		"players said %d lines, slowest answer %v; host pid %d up, %d sessions now",
		attempts.Load(), accepted.Load(), queued.Load(), refused.Load(), junkSent.Load(),
		time.Since(start).Round(time.Millisecond), said, maxWait.Round(time.Millisecond), st.PID, st.Sessions)
}
