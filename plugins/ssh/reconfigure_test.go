package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-mud/portico/sdk"
	gossh "golang.org/x/crypto/ssh"
)

// TestValidate: every problem of a block is reported naming its key, a
// given host key must load, an address in use is reported unless the
// running plugin holds it, and nothing is generated or left listening.
func TestValidate(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().String()
	dataDir := t.TempDir()
	validate := func(raw map[string]any, held ...string) []string {
		err := (&Plugin{}).Validate(context.Background(), sdk.Config{Raw: raw, Host: sdk.HostInfo{DataDir: dataDir}, Listening: held})
		var out []string
		for _, p := range sdk.ConfigProblems(err) {
			out = append(out, p.Key+": "+p.Msg)
		}
		return out
	}
	got := validate(map[string]any{"listen": "127.0.0.1:0", "max_sessions": 0, "login_grace": "0", "max_line_lenght": 1})
	if len(got) != 3 || got[0] != `: unknown key "max_line_lenght" (did you mean "max_line_length"?)` ||
		got[1] != "max_sessions: must be at least 1" || got[2] != "login_grace: must be more than 0" {
		t.Errorf("every problem: %q", got)
	}
	got = validate(map[string]any{"listen": taken, "host_key": "/nonexistent/key"})
	if len(got) != 2 || got[0] != "host_key: /nonexistent/key: no such file or directory" || got[1] != "listen: "+taken+": address already in use" {
		t.Errorf("files and addresses: %q", got)
	}
	if got := validate(map[string]any{"listen": taken}, taken); len(got) != 0 {
		t.Errorf("the running plugin's own address: %q", got)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Errorf("Validate wrote into the data dir: %v", entries)
	}
}

// TestReconfigureListen: a new listen address takes new clients while a
// connection made on the old one carries on; a new host key needs a
// restart.
func TestReconfigureListen(t *testing.T) {
	h := startPlugin(t, nil)
	c := mustDial(t, h.addr, clientConfig("alice", gossh.Password("wonderland1")), xterm, "")
	_, id := h.awaitConnect()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	next := ln.Addr().String()
	ln.Close()
	info, err := h.p.Reconfigure(context.Background(), sdk.Config{Raw: map[string]any{"listen": next, "max_sessions": 3},
		Host: sdk.HostInfo{DataDir: h.dataDir, Limits: sdk.Limits{MaxInputLength: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Listeners) != 1 || info.Listeners[0].Address != next {
		t.Errorf("listeners: %+v", info.Listeners)
	}
	c.Send("still here")
	h.awaitText(id, "still here")
	if nc, err := net.DialTimeout("tcp", h.addr, waitFor); err == nil {
		nc.Close()
		t.Fatalf("the old address %s still accepts", h.addr)
	}
	c2, err := dialClient(next, clientConfig("bob", gossh.Password("builder12")), xterm, "")
	if err != nil {
		t.Fatalf("the new address: %v", err)
	}
	defer c2.Close()
	h.awaitConnect()
	if h.p.conf().MaxSessions != 3 {
		t.Errorf("max_sessions = %d", h.p.conf().MaxSessions)
	}

	_, err = h.p.Reconfigure(context.Background(), sdk.Config{Raw: map[string]any{"listen": next, "host_key": filepath.Join(h.dataDir, "other")},
		Host: sdk.HostInfo{DataDir: h.dataDir}})
	if !errors.Is(err, sdk.ErrRestartNeeded) || !strings.Contains(err.Error(), "host_key") {
		t.Fatalf("a new host key: %v", err)
	}
}
