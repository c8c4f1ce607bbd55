package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// problems runs Validate and returns its problems as "key: message".
func problems(t *testing.T, raw map[string]any, host sdk.HostInfo, held ...string) []string {
	t.Helper()
	err := (&Plugin{}).Validate(context.Background(), sdk.Config{Raw: raw, Host: host, Listening: held})
	var out []string
	for _, p := range sdk.ConfigProblems(err) {
		out = append(out, p.Key+": "+p.Msg)
	}
	return out
}

// TestValidate: every problem of a block is reported, each naming its key;
// an address in use is one, unless the running plugin holds it; Validate
// neither listens nor writes anything.
func TestValidate(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().String()
	dataDir := t.TempDir()
	host := sdk.HostInfo{DataDir: dataDir, Limits: sdk.Limits{MaxInputLength: 6000}}

	got := problems(t, map[string]any{"lisen": ":4000", "keepalive": "often", "max_line_length": -1,
		"disable_options": []any{"zmp"}}, host)
	want := []string{
		`keepalive: want a duration ("30s", "5m") or a number of seconds, got string "often"`,
		`: unknown key "lisen" (did you mean "listen"?)`,
		`max_line_length: must not be negative`,
		`disable_options: unknown option "zmp" (known: charset, echo, eor, gmcp, linemode, mccp2, msdp, mssp, mxp, naws, sga, ttype)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("every problem:\n%q\nwant\n%q", got, want)
	}
	got = problems(t, map[string]any{"listen": "127.0.0.1:0", "max_line_length": -1, "disable_options": []any{"zmp"},
		"tls_cert": "a.pem"}, host)
	if len(got) != 3 || !strings.HasPrefix(got[0], "tls_key: ") || !strings.HasPrefix(got[1], "max_line_length: ") ||
		!strings.HasPrefix(got[2], `disable_options: unknown option "zmp"`) {
		t.Errorf("value problems: %q", got)
	}
	got = problems(t, map[string]any{"listen": taken, "tls_listen": taken}, host)
	if !slices.Equal(got, []string{"tls_listen: " + fmt.Sprintf("%q", taken) + " is also listen's address", "listen: " + taken + ": address already in use"}) {
		t.Errorf("one address twice: %q", got)
	}
	tlsTaken := conntest.FreeAddr(t)
	got = problems(t, map[string]any{"listen": taken, "tls_listen": "192.0.2.1:4000", "tls_cert": "/nonexistent/c.pem",
		"tls_key": "/nonexistent/k.pem"}, host)
	if len(got) != 3 || got[0] != "listen: "+taken+": address already in use" || !strings.HasPrefix(got[1], "tls_cert: load /nonexistent/c.pem") ||
		got[2] != "tls_listen: 192.0.2.1:4000: cannot assign requested address (no such address on this machine)" {
		t.Errorf("files and addresses: %q", got)
	}
	if got := problems(t, map[string]any{"listen": taken, "tls_listen": tlsTaken}, host, taken); len(got) != 0 {
		t.Errorf("the running plugin's own address: %q", got)
	}
	// Nothing was left listening, and no TLS pair was generated.
	ln, err := net.Listen("tcp", tlsTaken)
	if err != nil {
		t.Fatalf("Validate kept %s: %v", tlsTaken, err)
	}
	ln.Close()
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Errorf("Validate wrote into the data dir: %v", entries)
	}
	if got := problems(t, map[string]any{"tls_listen": "127.0.0.1:0"}, sdk.HostInfo{}); len(got) != 1 || !strings.HasPrefix(got[0], "tls_listen: no tls_cert") {
		t.Errorf("TLS without a data dir: %q", got)
	}
}

// TestReconfigureKeepsConnections: a new listen address is taken up and the
// old one given up while its connection carries on; a new line limit (the
// host's) applies to that connection at once; a new TLS address needs a
// restart and changes nothing.
func TestReconfigureKeepsConnections(t *testing.T) {
	first := conntest.FreeAddr(t)
	raw := map[string]any{"listen": first}
	p, portal, err := configure(t, raw, sdk.HostInfo{Limits: sdk.Limits{MaxInputLength: 6000}})
	if err != nil {
		t.Fatal(err)
	}
	col := collect(portal)
	defer col.stop(t)
	old, oldID := dialClient(t, p, col)

	second := conntest.FreeAddr(t)
	info, err := p.Reconfigure(context.Background(), sdk.Config{Raw: map[string]any{"listen": second, "mssp": map[string]any{"genre": "Fantasy"}},
		Host: sdk.HostInfo{Limits: sdk.Limits{MaxInputLength: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Listeners) != 1 || info.Listeners[0].Address != second {
		t.Errorf("listeners after the change: %+v", info.Listeners)
	}
	// The old connection carries on under the new limit.
	if _, err := old.Write([]byte("123456\r\n12345\r\n")); err != nil {
		t.Fatal(err)
	}
	expectDataIn(t, col, oldID, "12345")
	_ = old.SetReadDeadline(time.Now().Add(waitFor))
	buf := make([]byte, 4096)
	var seen string
	for !strings.Contains(seen, sdk.MsgTooLong) {
		n, err := old.Read(buf)
		if err != nil {
			t.Fatalf("the old connection: %v (read %q)", err, seen)
		}
		seen += string(buf[:n])
	}
	// New clients come in on the new address only.
	if c, err := net.DialTimeout("tcp", first, waitFor); err == nil {
		c.Close()
		t.Fatalf("the old address %s still accepts", first)
	}
	c, err := net.DialTimeout("tcp", second, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ev := col.next(t); ev.GetConnect() == nil {
		t.Fatalf("event = %v, want the new client's Connect", ev)
	}
	if tbl := p.msspTable(); !slices.ContainsFunc(tbl, func(v msspVar) bool { return v.name == "GENRE" }) {
		t.Errorf("the new MSSP field is not in the table: %v", tbl)
	}

	_, err = p.Reconfigure(context.Background(), sdk.Config{Raw: map[string]any{"listen": conntest.FreeAddr(t), "tls_listen": "127.0.0.1:0"}})
	if !errors.Is(err, sdk.ErrRestartNeeded) || !strings.Contains(err.Error(), "tls_listen") {
		t.Fatalf("a new tls_listen: %v, want a restart naming it", err)
	}
	if got := p.info().Listeners; len(got) != 1 || got[0].Address != second {
		t.Errorf("a refused change changed the listeners: %+v", got)
	}
	if _, err := p.Reconfigure(context.Background(), sdk.Config{Raw: map[string]any{"listen": first, "lisen": "x"}}); err == nil {
		t.Error("a bad block was applied")
	}
}

// TestReconfigureKeepaliveReachesOpenConnections: the keepalive is the
// plugin's, one timer for every connection rather than one each (each of
// thousands of idle connections kept its own, issue 16), so a keepalive
// turned on by a live edit reaches connections opened before it, and one
// turned off stops for them.
func TestReconfigureKeepaliveReachesOpenConnections(t *testing.T) {
	addr := conntest.FreeAddr(t)
	p, portal, err := configure(t, map[string]any{"listen": addr, "keepalive": "0s"}, sdk.HostInfo{Limits: sdk.Limits{MaxInputLength: 100}})
	if err != nil {
		t.Fatal(err)
	}
	col := collect(portal)
	defer col.stop(t)
	client, _ := dialClient(t, p, col)
	if _, err := p.Reconfigure(context.Background(), sdk.Config{Raw: map[string]any{"listen": addr, "keepalive": "20ms"},
		Host: sdk.HostInfo{Limits: sdk.Limits{MaxInputLength: 100}}}); err != nil {
		t.Fatal(err)
	}
	// Two NOPs: the keepalive is rescheduled after a round.
	_ = client.SetReadDeadline(time.Now().Add(waitFor))
	buf := make([]byte, 4096)
	var seen string
	for strings.Count(seen, iac+nop) < 2 {
		n, err := client.Read(buf)
		if err != nil {
			t.Fatalf("waiting for two keepalives after the live edit: %v (read %q)", err, seen)
		}
		seen += string(buf[:n])
	}
	if _, err := p.Reconfigure(context.Background(), sdk.Config{Raw: map[string]any{"listen": addr, "keepalive": "0s"},
		Host: sdk.HostInfo{Limits: sdk.Limits{MaxInputLength: 100}}}); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	running := p.keepaliveTimer != nil
	p.mu.Unlock()
	if running {
		t.Error("the keepalive timer runs after the keepalive was turned off")
	}
}

// TestKeepaliveSpreadOverTheInterval: the keepalive's rounds come a second
// apart (at most a minute's worth an interval, one round for an interval
// under two seconds), and each reaches its share of the connections, every
// connection once an interval: ten thousand clients get a few hundred NOPs
// a second, not ten thousand at once.
func TestKeepaliveSpreadOverTheInterval(t *testing.T) {
	for ka, want := range map[time.Duration]uint64{20 * time.Millisecond: 1, 1500 * time.Millisecond: 1,
		3 * time.Second: 3, 30 * time.Second: 30, 10 * time.Minute: 60} {
		if got := keepaliveSlots(ka); got != want {
			t.Errorf("keepaliveSlots(%v) = %d, want %d", ka, got, want)
		}
	}
	p := &Plugin{conns: map[*conn]uint64{}}
	const n, slots = 90, 30
	for range n {
		p.connSeq++
		p.conns[&conn{}] = p.connSeq
	}
	reached := map[*conn]int{}
	for round := uint64(7); round < 7+slots; round++ {
		due := p.keepaliveDueLocked(round, slots)
		if len(due) != n/slots {
			t.Errorf("round %d reaches %d connections, want %d", round, len(due), n/slots)
		}
		for _, c := range due {
			reached[c]++
		}
	}
	for c := range p.conns {
		if reached[c] != 1 {
			t.Fatalf("a connection reached %d times in an interval, want once", reached[c])
		}
	}
}
