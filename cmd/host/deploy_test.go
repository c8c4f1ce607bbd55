package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit: deploy/portico.service runs `portico start`, reloads
// with `portico reload` and stops with `portico stop` (each command line
// one the real binary takes), as the portico user, signals the host alone
// (the plugins outlive a crash), and keeps its hardening; where
// systemd-analyze is installed, `systemd-analyze verify` finds nothing
// wrong with it (its binary path pointed at the test's build).
func TestSystemdUnit(t *testing.T) {
	unit := readFile(t, filepath.Join("..", "..", "deploy", "portico.service"))
	keys := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	for k, v := range map[string]string{"User": "portico", "Group": "portico", "KillMode": "process",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"ReadWritePaths": "/srv/portico/data", "CapabilityBoundingSet": "", "Restart": "on-failure"} {
		if got, ok := keys[k]; !ok || got != v {
			t.Errorf("%s=%q, want %q", k, got, v)
		}
	}
	for exe, sub := range map[string]string{"ExecStart": "start", "ExecReload": "reload", "ExecStop": "stop"} {
		args := strings.Fields(keys[exe])
		if len(args) < 2 || args[0] != "/srv/portico/bin/portico" || args[1] != sub {
			t.Errorf("%s=%q, want /srv/portico/bin/portico %s ...", exe, keys[exe], sub)
			continue
		}
		// The binary takes the command line as written.
		out, err := exec.Command(filepath.Join(binDir, "portico"), append(args[1:], "--help")...).CombinedOutput()
		if err != nil {
			t.Errorf("%s: portico %s: %v\n%s", exe, strings.Join(args[1:], " "), err, out)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: the unit's syntax is not verified")
		return
	}
	path := filepath.Join(t.TempDir(), "portico.service")
	writeFile(t, path, strings.ReplaceAll(unit, "/srv/portico/bin/portico", filepath.Join(binDir, "portico")))
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	_ = os.Remove(path)
}
