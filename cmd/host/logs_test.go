package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// TestLogsOneFormatNoSecrets: with log.format json and log.level debug,
// every line the host writes (its stderr and portico.log) and every line
// its plugins write (telnet.log, websocket.log) is one JSON object with a
// time, a level and a message — go-plugin's own messages too, on both
// sides (the plugin's "plugin address", the host's "plugin process exited"
// for a killed plugin) — and after a session that logs in with a password
// over telnet (inline and at the prompt) and one over the websocket with a
// csessid, no log holds the password or the csessid.
func TestLogsOneFormatNoSecrets(t *testing.T) {
	const (
		password = "Zq7-unlogged-pass"
		csessid  = "feedfacecafebeef0123456789abcdef"
	)
	wsPort := conntest.FreePort(t)
	h := startHostWith(t, hostOptions{
		blocks: "log:\n  level: debug\n  format: json\n",
		extra: fmt.Sprintf("  websocket:\n    enabled: true\n    path: %s\n    config:\n      listen: \"127.0.0.1:%d\"\n",
			filepath.Join(binDir, "portico-websocket"), wsPort),
	})
	h.waitPlugin("websocket", func(p pluginStatus) bool { return p.State == "running" })

	c := dialTelnet(t, h.telnetAddr)
	c.login("Logan", password, true)
	p := dialTelnet(t, h.telnetAddr)
	p.expect("Welcome to TestGame")
	p.send("connect Logan")
	p.expect("Password:")
	p.send(password)
	p.expect("You become Logan.")

	w := dialWS(t, fmt.Sprintf("http://127.0.0.1:%d", wsPort), csessid+"&cuid1&GoTest")
	w.expect("Welcome to TestGame")
	w.command("connect Logan " + password)
	w.expect("You become Logan.")

	// A killed plugin: go-plugin reports its exit through the host's log.
	telnet := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	if err := syscall.Kill(telnet.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" && p.PID != telnet.PID })
	h.stopProcess()

	logs := map[string]string{"host stderr": h.logText()}
	for _, name := range []string{"portico.log", "telnet.log", "websocket.log"} {
		logs[name] = readFile(t, filepath.Join(h.dir, "data", "logs", name))
	}
	goPlugin := map[string]int{}
	for name, text := range logs {
		if strings.Contains(text, password) {
			t.Errorf("%s holds the password", name)
		}
		if strings.Contains(text, csessid) {
			t.Errorf("%s holds the csessid", name)
		}
		sc := bufio.NewScanner(strings.NewReader(text))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		n := 0
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				continue
			}
			n++
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("%s: a line that is not JSON: %q", name, line)
				continue
			}
			for _, k := range []string{"time", "level", "msg"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("%s: a line without %q: %q", name, k, line)
				}
			}
			if rec["logger"] != nil && strings.HasPrefix(fmt.Sprint(rec["logger"]), "go-plugin") {
				goPlugin[name]++
			}
		}
		if n == 0 {
			t.Errorf("%s is empty", name)
		}
	}
	// go-plugin's messages are there, in the one format: the host's
	// (the killed plugin's exit) and a plugin's (its address, at debug).
	if goPlugin["portico.log"] == 0 || goPlugin["telnet.log"] == 0 {
		t.Errorf("go-plugin's messages not routed into the logs as JSON: %v", goPlugin)
	}
	if t.Failed() {
		for name, text := range logs {
			t.Logf("%s:\n%s", name, text)
		}
		os.Stdout.Sync()
	}
}
