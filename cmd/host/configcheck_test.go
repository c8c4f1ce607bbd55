package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
	"go.yaml.in/yaml/v3"
	gossh "golang.org/x/crypto/ssh"
)

// runCLI runs the portico binary with args (and env added to the
// test's environment), bounded in time, and returns its stdout, stderr,
// exit code and how long it ran.
func runCLI(t *testing.T, env []string, args ...string) (string, string, int, time.Duration) {
	t.Helper()
	return runCLIWith(t, env, "", args...)
}

// runCLIWith is runCLI with stdin (not a terminal).
func runCLIWith(t *testing.T, env []string, stdin string, args ...string) (string, string, int, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "portico"), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("portico %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code, took
}

// TestConfigCheckShipped: `portico config check` on the shipped config.yaml
// (every plugin's block checked by the plugin itself) exits 0 and prints
// the effective config: defaults and the environment applied, every
// plugin's binary where the host would launch it, secrets masked.
func TestConfigCheckShipped(t *testing.T) {
	shipped, err := filepath.Abs(filepath.Join("..", "..", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// A secret of a plugin's block, given by the environment: the SSH
	// host key (a real one: the plugin's Validate loads it).
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	hostKey := filepath.Join(t.TempDir(), "secret_host_key")
	writeFile(t, hostKey, string(pem.EncodeToMemory(block)))
	out, errOut, code, took := runCLI(t, []string{
		"PORTICO_SERVER_NAME=CheckedGame",
		"PORTICO_PLUGINS_SSH_CONFIG_HOST_KEY=" + hostKey,
	}, "config", "check", "--config", shipped)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	t.Logf("the shipped config and its four plugins checked in %s", took.Round(time.Millisecond))
	if strings.Contains(out, hostKey) || !strings.Contains(out, "host_key: '********' # from $PORTICO_PLUGINS_SSH_CONFIG_HOST_KEY") {
		t.Errorf("the secret is not masked, or its source not named:\n%s", out)
	}
	if !strings.Contains(out, "name: CheckedGame # from $PORTICO_SERVER_NAME") {
		t.Errorf("the environment's server.name is not shown with its source:\n%s", out)
	}
	var eff struct {
		Server struct {
			DataDir       string `yaml:"data_dir"`
			ReattachGrace string `yaml:"reattach_grace"`
		}
		Limits  map[string]any
		Plugins map[string]struct {
			Enabled bool
			Path    string
			Config  map[string]any
		}
	}
	if err := yaml.Unmarshal([]byte(out), &eff); err != nil {
		t.Fatalf("the output is not YAML: %v\n%s", err, out)
	}
	if eff.Server.DataDir != filepath.Join(filepath.Dir(shipped), "data") || eff.Server.ReattachGrace != "1m" {
		t.Errorf("server = %+v", eff.Server)
	}
	if eff.Limits["max_input_length"] != 6000 || eff.Limits["password_min_length"] != 8 {
		t.Errorf("limits = %v", eff.Limits)
	}
	for _, name := range []string{"telnet", "ssh", "websocket", "irc"} {
		p, ok := eff.Plugins[name]
		if !ok || !p.Enabled || p.Path != filepath.Join(binDir, "portico-"+name) {
			t.Errorf("plugin %s = %+v, want it enabled at %s", name, p, filepath.Join(binDir, "portico-"+name))
		}
	}
	if eff.Plugins["telnet"].Config["listen"] != ":4000" {
		t.Errorf("telnet config = %v", eff.Plugins["telnet"].Config)
	}
}

// TestConfigCheckBroken: on a broken config `portico config check` prints
// nothing on stdout and one line per problem on stderr, saying where, and
// exits 1.
func TestConfigCheckBroken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	for _, tc := range []struct {
		name, body string
		env        []string
		want       []string
	}{
		{"unknown plugin key", "plugins:\n  telnet:\n    enable: true\n", nil,
			[]string{`%s:3: plugins.telnet.enable: unknown key (did you mean "enabled"?)`}},
		{"bad values", "server:\n  multisession_mode: two\nplugins:\n  telnet:\n    enabled: maybe\n", nil,
			[]string{`%s:2: server.multisession_mode: want a whole number, got "two"`,
				`%s:5: plugins.telnet.enabled: want true or false, got "maybe"`}},
		{"YAML syntax", "server:\n  name: Game\n  data_dir: [x\nlimits: {}\n", nil,
			[]string{`%s:3: YAML syntax error: did not find expected ',' or ']'`}},
		{"missing binary", "plugins:\n  echo:\n    enabled: true\n    path: /nonexistent/portico-echo\n", nil,
			[]string{`%s:4: plugins.echo.path: /nonexistent/portico-echo: no such file`}},
		{"wrong digest", fmt.Sprintf("plugins:\n  telnet:\n    enabled: true\n    sha256: %q\n", strings.Repeat("ab", 32)), nil,
			[]string{`%s:4: plugins.telnet.sha256: ` + filepath.Join(binDir, "portico-telnet") + ` has SHA-256 `}},
		{"bad variable", "plugins:\n  telnet:\n    enabled: true\n", []string{"PORTICO_PLUGINS_TELNET_ENABLED=maybe"},
			[]string{`$PORTICO_PLUGINS_TELNET_ENABLED: plugins.telnet.enabled: want true or false, got "maybe"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, path, tc.body)
			out, errOut, code, _ := runCLI(t, tc.env, "config", "check", "--config", path)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
			}
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("stderr:\n%s\nwant %d lines", errOut, len(tc.want))
			}
			for i, w := range tc.want {
				if strings.Contains(w, "%s") {
					w = fmt.Sprintf(w, path)
				}
				if !strings.HasPrefix(lines[i], "portico: "+w) {
					t.Errorf("line %d = %q, want %q", i+1, lines[i], "portico: "+w)
				}
			}
		})
	}
}

// TestStartRefusesBadConfig: `portico start` on a config with an unknown
// key, a bad value or a YAML syntax error exits 1 within 5 s with one
// line naming the file's line, before it creates or starts anything.
func TestStartRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"unknown key", "server:\n  name: Game\n  data_dir: data\nplugins:\n  telnet:\n    enabled: true\n    lisen: x\n",
			`%s:7: plugins.telnet.lisen: unknown key (want enabled, path, remote, protocol, sha256, trust_key_logins or config)`},
		{"bad value", "server:\n  data_dir: data\nplugins:\n  telnet:\n    enabled: maybe\n",
			`%s:5: plugins.telnet.enabled: want true or false, got "maybe"`},
		{"YAML syntax", "server:\n  data_dir: data\n  name: Game\n idle_timeout: 5m\n",
			`%s:4: YAML syntax error: did not find expected key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config.yaml")
			writeFile(t, path, tc.body)
			out, errOut, code, took := runCLI(t, nil, "start", "--config", path)
			if code == 0 || took > 5*time.Second {
				t.Fatalf("exit %d after %s; want non-zero within 5s\n%s%s", code, took, out, errOut)
			}
			if want := "portico: " + fmt.Sprintf(tc.want, path) + "\n"; errOut != want || out != "" {
				t.Errorf("stderr %q stdout %q, want stderr %q", errOut, out, want)
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused start left its data directory (err %v)", err)
			}
		})
	}
}

// TestPluginFromEnvironmentOnly: a plugin that config.yaml does not mention
// runs when the environment enables and configures it.
func TestPluginFromEnvironmentOnly(t *testing.T) {
	port := conntest.FreePort(t)
	t.Setenv("PORTICO_PLUGINS_TELNET_2_ENABLED", "true")
	t.Setenv("PORTICO_PLUGINS_TELNET_2_PATH", filepath.Join(binDir, "portico-telnet"))
	t.Setenv("PORTICO_PLUGINS_TELNET_2_CONFIG_LISTEN", fmt.Sprintf("127.0.0.1:%d", port))
	h := startHost(t)
	if strings.Contains(readFile(t, h.configPath), "telnet_2") {
		t.Fatal("the test config mentions the plugin")
	}
	h.waitPlugin("telnet_2", func(p pluginStatus) bool { return p.State == "running" })
	c := dialTelnet(t, fmt.Sprintf("127.0.0.1:%d", port))
	c.login("Enzo", "enzopass1", true)
	c.send("say hello from the environment")
	c.expect(`You say, "hello from the environment"`)
}

// TestLiveEditOfRestartKeyRefused: an edit that changes a key not marked
// live (server.argon2_time) is refused as a whole, naming the key: the
// live key changed beside it (server.name) does not apply either. The
// same edit without it applies.
func TestLiveEditOfRestartKeyRefused(t *testing.T) {
	h := startHost(t)
	orig := readFile(t, h.configPath)
	edited := strings.Replace(strings.Replace(orig, "name: TestGame", "name: HalfApplied", 1),
		"argon2_time: 1", "argon2_time: 2", 1)
	if edited == orig {
		t.Fatal("the edit changed nothing")
	}
	writeFile(t, h.configPath, edited)
	waitLog(t, h, "config reload not supported for server.argon2_time")
	if st := h.waitFor("status", func(host.Status) bool { return true }); st.ServerName != "TestGame" {
		t.Fatalf("a refused edit changed the name to %q", st.ServerName)
	}
	if strings.Contains(h.logText(), "config: applied") {
		t.Fatalf("the refused edit was applied:\n%s", h.logText())
	}
	writeFile(t, h.configPath, strings.Replace(orig, "name: TestGame", "name: Renamed", 1))
	h.waitFor("new name", func(st host.Status) bool { return st.ServerName == "Renamed" })
}
