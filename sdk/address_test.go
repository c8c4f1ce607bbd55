package sdk

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// TestClientNetwork: the per-address limits count IPv4 addresses and IPv6
// /64s; a v4-mapped address is its IPv4 address, a zone is dropped, and
// what is not an IP has no network. The addresses come as plugins have
// them: bare, host:port, and net.TCPAddr.String of what a listener
// accepted (the SSH plugin's path).
func TestClientNetwork(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1:4000", "192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:4000", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:4000", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::1]:5", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::9]:22", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"[fe80::1%eth0]:22", "fe80::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"#portico@libera", ""},
		{"pipe", ""},
		{"", ""},
	} {
		if got := ClientNetwork(tc.in); got != tc.want {
			t.Errorf("ClientNetwork(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7:4001", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:4001", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa::1]:4001", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:22", "2001:db8:1:3::/64"},
		{"[fe80::1%lo]:22", "fe80::/64"},
	} {
		a, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := ClientNetwork(a.String()); got != tc.want {
			t.Errorf("ClientNetwork(%#v.String() = %q) = %q, want %q", a, a.String(), got, tc.want)
		}
	}
}

// TestAddressCounter: Admit counts up to the limit per network and refuses
// past it, each network on its own; Release frees one; "" is never
// limited or counted; a limit of 0 admits all; SetLimit applies to the
// next Admit; the zero value has no limit.
func TestAddressCounter(t *testing.T) {
	c := NewAddressCounter(2)
	for i := range 2 {
		if !c.Admit("192.0.2.1") {
			t.Fatalf("admit %d of 2 refused", i+1)
		}
	}
	if c.Admit("192.0.2.1") {
		t.Fatal("a third was admitted past the limit of 2")
	}
	if got := c.Count("192.0.2.1"); got != 2 {
		t.Fatalf("Count = %d after a refusal, want 2 (a refusal counts nothing)", got)
	}
	if !c.Admit("2001:db8:1:2::/64") || c.Count("2001:db8:1:2::/64") != 1 {
		t.Fatal("another network is held back by the first's count")
	}
	c.Release("192.0.2.1")
	if got := c.Count("192.0.2.1"); got != 1 || !c.Admit("192.0.2.1") {
		t.Fatalf("after a Release: Count %d, want 1, and room for one more", got)
	}
	for range 5 {
		if !c.Admit("") {
			t.Fatal(`"" (no IP) was refused`)
		}
	}
	if got := c.Count(""); got != 0 {
		t.Fatalf(`Count("") = %d, want 0: no IP is not counted`, got)
	}
	c.Release("")
	c.Release("198.51.100.1") // nothing counted: nothing happens
	if got := c.Count("198.51.100.1"); got != 0 {
		t.Fatalf("Release of an uncounted network left Count %d", got)
	}
	c.SetLimit(3)
	if !c.Admit("192.0.2.1") || c.Admit("192.0.2.1") {
		t.Fatal("SetLimit(3): want exactly one more admitted for a network holding 2")
	}
	c.SetLimit(1)
	c.Release("192.0.2.1")
	if c.Admit("192.0.2.1") {
		t.Fatal("SetLimit(1) with 2 open: one more was admitted")
	}
	c.Release("192.0.2.1")
	c.Release("192.0.2.1")
	if got := c.Count("192.0.2.1"); got != 0 || len(c.counts) != 1 {
		t.Fatalf("all released: Count %d, %d networks kept; want 0 and only the /64's", got, len(c.counts))
	}

	for _, unlimited := range []*AddressCounter{NewAddressCounter(0), {}} {
		for i := range 100 {
			if !unlimited.Admit("192.0.2.1") {
				t.Fatalf("no limit: admit %d refused", i+1)
			}
		}
		if got := unlimited.Count("192.0.2.1"); got != 100 {
			t.Fatalf("no limit: Count = %d, want 100", got)
		}
	}
}

// TestAddressCounterConcurrent: many goroutines admitting and releasing
// at once never get past the limit together, and leave nothing counted
// (run with -race).
func TestAddressCounterConcurrent(t *testing.T) {
	const limit, workers, rounds = 3, 16, 200
	c := NewAddressCounter(limit)
	var (
		mu      sync.Mutex
		in, top int
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range rounds {
				if !c.Admit("192.0.2.1") {
					continue
				}
				mu.Lock()
				in++
				top = max(top, in)
				mu.Unlock()
				mu.Lock()
				in--
				mu.Unlock()
				c.Release("192.0.2.1")
			}
		})
	}
	wg.Wait()
	if top > limit || top == 0 {
		t.Fatalf("at most %d were in at once, want 1 to %d", top, limit)
	}
	if got := c.Count("192.0.2.1"); got != 0 {
		t.Fatalf("Count = %d after every admit was released, want 0", got)
	}
}

// TestReattachChangesConnectionsPerIP: a host that reattaches with another
// connections_per_ip has it apply to the next connection.
func TestReattachChangesConnectionsPerIP(t *testing.T) {
	h := newHarness(t, newTestPlugin())
	host := hostInfo(1, 100)
	host.ConnectionsPerIp = 1
	h.configure(t, `{}`, host)
	portal := h.srv.Portal()
	if _, err := portal.NewSession(context.Background(), newFakeConn(), "telnet", "192.0.2.1:4000"); err != nil {
		t.Fatal(err)
	}
	if _, err := portal.NewSession(context.Background(), newFakeConn(), "telnet", "192.0.2.1:4001"); !errors.Is(err, ErrRefused) {
		t.Fatalf("second connection with connections_per_ip 1: %v, want refused", err)
	}
	host = hostInfo(101, 100)
	host.ConnectionsPerIp = 2
	h.configure(t, `{}`, host)
	if _, err := portal.NewSession(context.Background(), newFakeConn(), "telnet", "192.0.2.1:4002"); err != nil {
		t.Fatalf("second connection after the host raised connections_per_ip to 2: %v", err)
	}
	if _, err := portal.NewSession(context.Background(), newFakeConn(), "telnet", "192.0.2.1:4003"); !errors.Is(err, ErrRefused) {
		t.Fatalf("third connection with connections_per_ip 2: %v, want refused", err)
	}
}

// TestPluginCounterFollowsReattach: a counter the plugin made with
// Portal.NewAddressCounter at its one Configure takes the limit of every
// host that configures the portal after, as NewSession's own count does;
// one made with a fixed limit would keep the first host's (the SSH
// startups and websocket counters did).
func TestPluginCounterFollowsReattach(t *testing.T) {
	p := newTestPlugin()
	h := newHarness(t, p)
	host := hostInfo(1, 100)
	host.ConnectionsPerIp = 1
	h.configure(t, `{}`, host)
	c := h.srv.Portal().NewAddressCounter()
	if !c.Admit("192.0.2.1") || c.Admit("192.0.2.1") {
		t.Fatal("connections_per_ip 1: want exactly one admitted")
	}
	// The host reattaches with a higher limit: the plugin's Configure is
	// not called again, and the counter follows all the same.
	host = hostInfo(101, 100)
	host.ConnectionsPerIp = 3
	h.configure(t, `{}`, host)
	if n, _, _ := p.state(); n != 1 {
		t.Fatalf("the plugin was configured %d times, want once", n)
	}
	if !c.Admit("192.0.2.1") || !c.Admit("192.0.2.1") || c.Admit("192.0.2.1") {
		t.Fatal("after a reattach with connections_per_ip 3: want exactly two more admitted")
	}
	// And down again: what is open stays counted, nothing more comes in.
	host = hostInfo(201, 100)
	host.ConnectionsPerIp = 2
	h.configure(t, `{}`, host)
	c.Release("192.0.2.1")
	if c.Admit("192.0.2.1") {
		t.Fatal("after a reattach with connections_per_ip 2 and 2 open: one more was admitted")
	}
}

// acceptAll accepts from ln until it is closed, sending each connection on.
func acceptAll(t *testing.T, ln net.Listener) <-chan net.Conn {
	t.Helper()
	out := make(chan net.Conn, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			out <- nc
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return out
}

// TestLimitListener: one address holds at most the limit of accepted
// connections; more are closed at once and never reach Accept's caller,
// while another address gets in. A connection counts out exactly once,
// however often it is closed, and a connection whose network is "" (a
// trusted proxy's) is not counted.
func TestLimitListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := NewAddressCounter(2)
	refused := make(chan net.Addr, 64)
	ln := LimitListener(raw, c, LimitOptions{
		Network: func(remote net.Addr) string {
			if strings.HasPrefix(remote.String(), "127.0.0.4:") {
				return "" // the proxy
			}
			return ClientNetwork(remote.String())
		},
		Refused: func(remote net.Addr) { refused <- remote },
	})
	accepted := acceptAll(t, ln)
	addr := raw.Addr().String()

	var kept []net.Conn
	for range 2 {
		conntest.DialFrom(t, "127.0.0.2", addr, testTimeout)
		kept = append(kept, wait(t, accepted, "an accepted connection"))
	}
	var over []net.Conn
	for range 5 {
		over = append(over, conntest.DialFrom(t, "127.0.0.2", addr, testTimeout))
		if r := wait(t, refused, "a refusal"); !strings.HasPrefix(r.String(), "127.0.0.2:") {
			t.Fatalf("refused %v", r)
		}
	}
	for i, nc := range over {
		if !conntest.ClosedWithin(nc, testTimeout) {
			t.Fatalf("connection %d over the limit is still open", i+1)
		}
	}
	none(t, accepted, "an accepted connection over the limit")
	if got := c.Count("127.0.0.2"); got != 2 {
		t.Fatalf("Count = %d, want 2", got)
	}

	// Another address gets in.
	conntest.DialFrom(t, "127.0.0.3", addr, testTimeout)
	other := wait(t, accepted, "the other address's connection")
	if !strings.HasPrefix(other.RemoteAddr().String(), "127.0.0.3:") {
		t.Fatalf("accepted %v", other.RemoteAddr())
	}
	// The proxy's connections are not counted.
	for range 4 {
		conntest.DialFrom(t, "127.0.0.4", addr, testTimeout)
		wait(t, accepted, "a connection from the proxy")
	}
	if got := c.Count("127.0.0.4"); got != 0 {
		t.Fatalf("the proxy's Count = %d, want 0", got)
	}

	// Closed twice (a TLS conn and its server both close it): counted out
	// once, and the address has room for exactly one.
	kept[0].Close()
	kept[0].Close()
	if got := c.Count("127.0.0.2"); got != 1 {
		t.Fatalf("Count = %d after one connection closed twice, want 1", got)
	}
	conntest.DialFrom(t, "127.0.0.2", addr, testTimeout)
	wait(t, accepted, "a connection once one was closed")
	conntest.DialFrom(t, "127.0.0.2", addr, testTimeout)
	wait(t, refused, "the refusal of the next one")
	kept[1].Close()
	other.Close()
	if got := c.Count("127.0.0.3"); got != 0 {
		t.Fatalf("the other address's Count = %d after its close, want 0", got)
	}
}

// TestLimitListenerTells: with Tell, connections over the limit come
// through to be told why, marked (OverLimit, through a *tls.Conn too),
// uncounted, at most Tell at once; past that one is closed at once. A told
// connection is closed TellWait after accept whatever the plugin does,
// and its place goes to the next.
func TestLimitListenerTells(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := NewAddressCounter(1)
	const tellWait = 300 * time.Millisecond
	ln := LimitListener(raw, c, LimitOptions{Tell: 2, TellWait: tellWait})
	accepted := acceptAll(t, ln)
	addr := raw.Addr().String()

	conntest.DialFrom(t, "127.0.0.2", addr, testTimeout)
	if within := wait(t, accepted, "the connection within the limit"); OverLimit(within) {
		t.Fatal("a connection within the limit is marked over it")
	}
	var told []net.Conn
	var clients []net.Conn
	for range 2 {
		clients = append(clients, conntest.DialFrom(t, "127.0.0.2", addr, testTimeout))
		nc := wait(t, accepted, "a connection to be told")
		if !OverLimit(nc) || !OverLimit(tls.Server(nc, &tls.Config{})) {
			t.Fatal("a connection over the limit is not marked so")
		}
		told = append(told, nc)
	}
	if got := c.Count("127.0.0.2"); got != 1 {
		t.Fatalf("Count = %d, want 1: told connections are not counted", got)
	}
	// Tell is full: the next is closed at once.
	if !conntest.ClosedWithin(conntest.DialFrom(t, "127.0.0.2", addr, testTimeout), testTimeout) {
		t.Fatal("a connection past Tell is still open")
	}
	none(t, accepted, "a connection past Tell")

	// The plugin closes one after telling it: its place is free.
	told[0].Close()
	told[0].Close()
	conntest.DialFrom(t, "127.0.0.2", addr, testTimeout)
	if nc := wait(t, accepted, "a connection told in the freed place"); !OverLimit(nc) {
		t.Fatal("not marked")
	}
	// One the plugin never closes is closed at TellWait.
	start := time.Now()
	if !conntest.ClosedWithin(clients[1], testTimeout) {
		t.Fatal("a told connection outlived TellWait")
	}
	if took := time.Since(start); took > tellWait+2*time.Second {
		t.Fatalf("a told connection was closed %v after it was let through, want about %v", took, tellWait)
	}
}

// TestExemptAddressesNotLimited: an address in the host's limits.exempt
// (given over the wire, as a host reattaching would) is neither counted
// nor queued by NewSession, nor counted by the plugin's own counters,
// while other addresses keep their limits; a /64 network is exempt when an
// exempt prefix holds it whole.
func TestExemptAddressesNotLimited(t *testing.T) {
	h := newHarness(t, newTestPlugin())
	host := hostInfo(1, 100)
	host.ConnectionsPerIp, host.ConnectionRate = 1, 1
	host.LimitsExempt = []string{"127.0.0.2", "2001:db8::/48"}
	h.configure(t, `{}`, host)
	portal := h.srv.Portal()
	for i := range 3 {
		for _, addr := range []string{"127.0.0.2:4000", "[2001:db8:0:1::5]:4000"} {
			if _, err := portal.NewSession(context.Background(), newFakeConn(), "telnet", addr); err != nil {
				t.Fatalf("connection %d from exempt %s: %v", i, addr, err)
			}
		}
	}
	if _, err := portal.NewSession(context.Background(), newFakeConn(), "telnet", "127.0.0.3:4000"); err != nil {
		t.Fatal(err)
	}
	if _, err := portal.NewSession(context.Background(), newFakeConn(), "telnet", "127.0.0.3:4001"); !errors.Is(err, ErrRefused) {
		t.Fatalf("second connection from a limited address: %v, want refused", err)
	}
	c := portal.NewAddressCounter()
	if !c.Admit("127.0.0.2") || !c.Admit("127.0.0.2") || !c.Admit("2001:db8:0:1::/64") || !c.Admit("2001:db8:0:1::/64") {
		t.Error("the plugin's counter limited an exempt network")
	}
	if c.Count("127.0.0.2") != 0 {
		t.Errorf("exempt address counted %d", c.Count("127.0.0.2"))
	}
	if !c.Admit("127.0.0.4") || c.Admit("127.0.0.4") {
		t.Error("the plugin's counter: want one admitted from a limited address")
	}
}
