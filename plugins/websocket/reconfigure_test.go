package main

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// TestValidate: every problem of a block is reported naming its key, an
// address in use is one unless the running plugin holds it, and nothing is
// left listening.
func TestValidate(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().String()
	validate := func(raw map[string]any, held ...string) []string {
		err := (&Plugin{}).Validate(context.Background(), sdk.Config{Raw: raw, Host: sdk.HostInfo{DataDir: t.TempDir()}, Listening: held})
		var out []string
		for _, p := range sdk.ConfigProblems(err) {
			out = append(out, p.Key+": "+p.Msg)
		}
		return out
	}
	got := validate(map[string]any{"listen": taken, "ping_timeout": "0", "allowed_origins": []any{"*"}, "trusted_proxies": []any{"nope"}})
	want := []string{
		"ping_timeout: must be positive while ping_interval is",
		`allowed_origins: "*" would let any web page drive a player's session; name the hosts`,
		`trusted_proxies: "nope" is neither an IP address nor a CIDR prefix`,
		"listen: " + taken + ": address already in use",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got = validate(map[string]any{"listen": taken, "tls_cert": "c.pem", "tls_key": "k.pem"})
	if len(got) != 2 || !strings.HasPrefix(got[0], "tls_cert: open ") || got[1] != "listen: "+taken+": address already in use" {
		t.Errorf("files and addresses: %q", got)
	}
	if got := validate(map[string]any{"listen": taken}, taken); len(got) != 0 {
		t.Errorf("the running plugin's own address: %q", got)
	}
	if got := validate(map[string]any{"listen": taken, "subprotocls": []any{}}, taken); len(got) != 1 || got[0] != `: unknown key "subprotocls" (did you mean "subprotocols"?)` {
		t.Errorf("unknown key: %q", got)
	}
}

// TestReconfigurePageAndListen: a new server name and line limit render
// the page afresh, a new listen address takes new clients, and a
// connected client carries on; new TLS files need a restart.
func TestReconfigurePageAndListen(t *testing.T) {
	h := newHarness(t, nil)
	c := h.dial("/ws")
	d := h.connected()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	next := ln.Addr().String()
	ln.Close()
	info, err := h.p.Reconfigure(context.Background(), sdk.Config{Raw: map[string]any{"listen": next},
		Host: sdk.HostInfo{ServerName: "Renamed", Limits: sdk.Limits{MaxInputLength: 42}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Listeners) != 1 || info.Listeners[0].URL != "http://"+next+"/" {
		t.Errorf("listeners: %+v", info.Listeners)
	}
	c.writeText(`["text", ["still here"], {}]`)
	if msgs := h.dataIn(d.Sessid); len(msgs) != 1 || msgs[0].Args[0] != "still here" {
		t.Fatalf("input after the change: %v", msgs)
	}
	if nc, err := net.DialTimeout("tcp", strings.TrimPrefix(h.http, "http://"), waitFor); err == nil {
		nc.Close()
		t.Fatal("the old address still accepts")
	}
	h.http, h.ws = "http://"+next, "ws://"+next
	_, body := h.get("/")
	if !strings.Contains(body, "<title>Renamed</title>") || !strings.Contains(body, `data-max-input="42"`) {
		t.Errorf("the page was not rendered afresh:\n%s", body)
	}
	h.dial("/ws")
	h.connected()

	_, err = h.p.Reconfigure(context.Background(), sdk.Config{Raw: map[string]any{"listen": next, "tls_cert": "c.pem", "tls_key": "k.pem"}})
	if !errors.Is(err, sdk.ErrRestartNeeded) {
		t.Fatalf("new TLS files: %v", err)
	}
}

// TestListenSwapKeepsLimit: a new listen address is wrapped as the first
// (every TCP connection counted from accept against connections_per_ip)
// and counts in the same counter: connections held on the old address
// stay open and still count, so the new address refuses one more from that
// address while another address is taken; once one old connection closes
// the new address has room for exactly one.
func TestListenSwapKeepsLimit(t *testing.T) {
	h := newHarnessWith(t, nil, func(p *Plugin, host *sdk.HostInfo) {
		host.ConnectionsPerIP = 2
		p.tellWait = tellWait
	})
	old := strings.TrimPrefix(h.http, "http://")
	held := []net.Conn{conntest.DialFrom(t, "127.0.0.2", old, waitFor), conntest.DialFrom(t, "127.0.0.2", old, waitFor)}
	h.awaitConns("127.0.0.2", 2)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	next := ln.Addr().String()
	ln.Close()
	if _, err := h.p.Reconfigure(context.Background(), sdk.Config{Raw: map[string]any{"listen": next},
		Host: sdk.HostInfo{ServerName: "Testgame", Limits: sdk.Limits{ConnectionsPerIP: 2}}}); err != nil {
		t.Fatal(err)
	}
	for i, nc := range held {
		if conntest.ClosedWithin(nc, conntest.StillOpen) {
			t.Fatalf("connection %d on the old address was closed by the listen swap", i+1)
		}
	}
	if !conntest.ClosedWithin(conntest.DialFrom(t, "127.0.0.2", next, waitFor), waitFor) {
		t.Fatal("the new address took a third connection from an address holding two on the old one")
	}
	other := conntest.DialFrom(t, "127.0.0.3", next, waitFor)
	h.awaitConns("127.0.0.3", 1)
	if conntest.ClosedWithin(other, conntest.StillOpen) {
		t.Fatal("the new address refused another address's first connection")
	}

	held[0].Close()
	h.awaitConns("127.0.0.2", 1)
	again := conntest.DialFrom(t, "127.0.0.2", next, waitFor)
	h.awaitConns("127.0.0.2", 2)
	if conntest.ClosedWithin(again, conntest.StillOpen) {
		t.Fatal("the new address refused a connection within the limit")
	}
	if !conntest.ClosedWithin(conntest.DialFrom(t, "127.0.0.2", next, waitFor), waitFor) {
		t.Fatal("the new address took a third connection from one address")
	}
}
