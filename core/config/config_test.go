package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/config"
)

// writeConfig writes body as config.yaml in a fresh directory and returns
// its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadErr loads body and returns the error, failing if there is none.
func loadErr(t *testing.T, body string) string {
	t.Helper()
	c, err := config.Load(writeConfig(t, body))
	if err == nil {
		t.Fatalf("Load accepted:\n%s\nas %+v", body, c)
	}
	return err.Error()
}

const validConfig = `
server:
  name: Testgame
  data_dir: /var/lib/testgame
  multisession_mode: 1
  idle_timeout: 30m
  argon2_memory_kib: 1024
  argon2_time: 3
limits:
  max_input_length: 2000
  connection_queue_wait: 2500ms
plugins:
  telnet:
    enabled: true
    path: /opt/portico/portico-telnet
    config:
      listen: ":4000"
      max_line_length: 0
  ssh:
    enabled: false
`

func TestLoadValid(t *testing.T) {
	path := writeConfig(t, validConfig)
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Path != path {
		t.Errorf("Path = %q, want %q", c.Path, path)
	}
	s := c.Server
	if s.Name != "Testgame" || s.DataDir != "/var/lib/testgame" || s.MultisessionMode != 1 ||
		s.IdleTimeout != 30*time.Minute || s.Argon2MemoryKiB != 1024 || s.Argon2Time != 3 {
		t.Errorf("Server = %+v", s)
	}
	if c.Limits.MaxInputLength != 2000 || c.Limits.ConnectionQueueWait != 2500*time.Millisecond {
		t.Errorf("Limits = %+v", c.Limits)
	}
	tel, ok := c.Plugins["telnet"]
	if !ok || !tel.Enabled || tel.Name != "telnet" || tel.Path != "/opt/portico/portico-telnet" {
		t.Fatalf("telnet = %+v", tel)
	}
	if tel.Config["listen"] != ":4000" || len(tel.Config) != 2 {
		t.Errorf("telnet config = %#v", tel.Config)
	}
	ssh := c.Plugins["ssh"]
	if ssh.Enabled || ssh.Config == nil {
		t.Errorf("ssh = %+v, want disabled with an empty (non-nil) config", ssh)
	}
	if c.DBPath() != "/var/lib/testgame/portico.db" || c.RunDir() != "/var/lib/testgame/run" ||
		c.LogDir() != "/var/lib/testgame/logs" || c.ControlSocket() != "/var/lib/testgame/run/control.sock" {
		t.Errorf("paths: db %s run %s logs %s control %s", c.DBPath(), c.RunDir(), c.LogDir(), c.ControlSocket())
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate of a loaded config: %v", err)
	}
}

func TestLoadDefaults(t *testing.T) {
	path := writeConfig(t, "plugins:\n  telnet:\n    enabled: true\n")
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	s := c.Server
	if s.Name != config.Default().Server.Name || config.Default().Server.Name != "Portico" {
		t.Errorf("name = %q, want Portico", s.Name)
	}
	if want := filepath.Join(filepath.Dir(path), "data"); s.DataDir != want {
		t.Errorf("data_dir = %q, want %q", s.DataDir, want)
	}
	if s.MultisessionMode != 0 || s.IdleTimeout != 0 || s.Argon2MemoryKiB != 0 || s.Argon2Time != 0 {
		t.Errorf("Server = %+v, want zero defaults", s)
	}
	if c.Limits.MaxInputLength != 6000 {
		t.Errorf("max_input_length = %d, want 6000", c.Limits.MaxInputLength)
	}
	if c.Limits.ConnectionQueueWait != 10*time.Second {
		t.Errorf("connection_queue_wait = %v, want 10s", c.Limits.ConnectionQueueWait)
	}
	if p := c.Plugins["telnet"]; p.Path != "" || p.Config == nil || len(p.Config) != 0 {
		t.Errorf("telnet = %+v, want no path and an empty config", p)
	}
}

func TestLoadEmptyFile(t *testing.T) {
	c, err := config.Load(writeConfig(t, ""))
	if err != nil {
		t.Fatalf("Load of an empty file: %v", err)
	}
	if c.Server.Name != "Portico" || len(c.Plugins) != 0 || len(c.EnabledPlugins()) != 0 {
		t.Errorf("config = %+v", c)
	}
}

func TestLoadEnvOverrides(t *testing.T) {
	t.Setenv("PORTICO_SERVER_NAME", "FromEnv")
	t.Setenv("PORTICO_PLUGINS_TELNET_ENABLED", "false")
	t.Setenv("PORTICO_SERVER_MULTISESSION_MODE", "1")
	t.Setenv("PORTICO_SERVER_IDLE_TIMEOUT", "90s")
	c, err := config.Load(writeConfig(t, validConfig))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Server.Name != "FromEnv" {
		t.Errorf("name = %q, want the environment's", c.Server.Name)
	}
	if c.Plugins["telnet"].Enabled {
		t.Error("PORTICO_PLUGINS_TELNET_ENABLED=false did not disable telnet")
	}
	if c.Server.MultisessionMode != 1 || c.Server.IdleTimeout != 90*time.Second {
		t.Errorf("mode %d idle %v, want 1 and 90s", c.Server.MultisessionMode, c.Server.IdleTimeout)
	}
	if len(c.EnabledPlugins()) != 0 {
		t.Errorf("enabled = %v", c.EnabledPlugins())
	}
}

func TestLoadEnvEnablesPlugin(t *testing.T) {
	t.Setenv("PORTICO_PLUGINS_SSH_ENABLED", "true")
	c, err := config.Load(writeConfig(t, validConfig))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !c.Plugins["ssh"].Enabled {
		t.Error("PORTICO_PLUGINS_SSH_ENABLED=true did not enable ssh")
	}
}

func TestLoadEnvBadValueNamed(t *testing.T) {
	t.Setenv("PORTICO_PLUGINS_TELNET_ENABLED", "maybe")
	_, err := config.Load(writeConfig(t, validConfig))
	if err == nil || !strings.Contains(err.Error(), "plugins.telnet.enabled") {
		t.Errorf("error = %v, want it to name plugins.telnet.enabled", err)
	}
}

func TestLoadRejectsUnknownKeys(t *testing.T) {
	for _, tc := range []struct{ body, key string }{
		{"server:\n  nmae: Typo\n", "server.nmae"},
		{"limits:\n  max_input: 5\n", "limits.max_input"},
		{"sever:\n  name: x\n", "sever"},
		{"plugins:\n  telnet:\n    enable: true\n", "plugins.telnet.enable"},
		{"plugins:\n  telnet:\n    path:\n      nested: x\n", "plugins.telnet.path.nested"},
		{"plugins:\n  telnet: true\n", "plugins.telnet"},
	} {
		msg := loadErr(t, tc.body)
		if !strings.Contains(msg, tc.key+": ") {
			t.Errorf("error for %q = %q, want it to name %s", tc.body, msg, tc.key)
		}
	}
	// Anything under a plugin's config block is the plugin's business.
	if _, err := config.Load(writeConfig(t, "plugins:\n  telnet:\n    config:\n      anything: 1\n      deep: {x: 1}\n")); err != nil {
		t.Errorf("plugin config keys rejected: %v", err)
	}
}

func TestLoadBadTypesNamed(t *testing.T) {
	for _, tc := range []struct{ body, key string }{
		{"server:\n  multisession_mode: x\n", "server.multisession_mode"},
		{"server:\n  multisession_mode: 1.5\n", "server.multisession_mode"},
		{"server:\n  idle_timeout: soon\n", "server.idle_timeout"},
		{"server:\n  idle_timeout: 30\n", "server.idle_timeout"},
		{"server:\n  argon2_time: lots\n", "server.argon2_time"},
		{"server:\n  argon2_memory_kib: [1]\n", "server.argon2_memory_kib"},
		{"limits:\n  max_input_length: long\n", "limits.max_input_length"},
		{"plugins:\n  telnet:\n    enabled: maybe\n", "plugins.telnet.enabled"},
		{"plugins:\n  telnet:\n    config: [1, 2]\n", "plugins.telnet.config"},
		{"plugins:\n  Bad.Name:\n    enabled: true\n", "plugins.Bad.Name"},
	} {
		msg := loadErr(t, tc.body)
		if !strings.Contains(msg, tc.key) {
			t.Errorf("error for %q = %q, want it to name %s", tc.body, msg, tc.key)
		}
	}
}

func TestLoadReportsEveryBadKey(t *testing.T) {
	msg := loadErr(t, "server:\n  multisession_mode: x\n  idle_timeout: soon\nplugins:\n  telnet:\n    enabled: maybe\n")
	for _, key := range []string{"server.multisession_mode", "server.idle_timeout", "plugins.telnet.enabled"} {
		if !strings.Contains(msg, key) {
			t.Errorf("error = %q, want it to name %s too", msg, key)
		}
	}
}

func TestLoadValidates(t *testing.T) {
	for _, tc := range []struct{ body, key string }{
		{"server:\n  name: '  '\n", "server.name"},
		{"server:\n  multisession_mode: 4\n", "server.multisession_mode"},
		{"server:\n  multisession_mode: -1\n", "server.multisession_mode"},
		{"server:\n  idle_timeout: -5m\n", "server.idle_timeout"},
		{"limits:\n  max_input_length: -1\n", "limits.max_input_length"},
		{"limits:\n  connection_queue_wait: -1s\n", "limits.connection_queue_wait"},
		{"limits:\n  connection_queue_wait: 10\n", "limits.connection_queue_wait"},
	} {
		msg := loadErr(t, tc.body)
		if !strings.Contains(msg, tc.key) {
			t.Errorf("error for %q = %q, want it to name %s", tc.body, msg, tc.key)
		}
	}
	c := &config.Config{Server: config.Server{Name: "x"}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "server.data_dir") {
		t.Errorf("Validate without a data dir = %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	if _, err := config.Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error = %v, want it to name the file", err)
	}
}

func TestLoadBadYAML(t *testing.T) {
	path := writeConfig(t, "server: [unclosed\n")
	if _, err := config.Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error = %v, want it to name the file", err)
	}
}

func TestRelativePathsResolveAgainstTheFile(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "etc", "game")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, "config.yaml")
	body := "server:\n  data_dir: ../state\nplugins:\n  telnet:\n    enabled: true\n    path: bin/portico-telnet\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// Load from elsewhere with a relative path to the file.
	t.Chdir(dir)
	c, err := config.Load(filepath.Join("etc", "game", "config.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Path != path {
		t.Errorf("Path = %q, want %q", c.Path, path)
	}
	if want := filepath.Join(dir, "etc", "state"); c.Server.DataDir != want {
		t.Errorf("data_dir = %q, want %q", c.Server.DataDir, want)
	}
	p := c.Plugins["telnet"]
	if want := filepath.Join(sub, "bin", "portico-telnet"); p.Path != want {
		t.Errorf("plugin path = %q, want %q", p.Path, want)
	}
	if got, err := c.PluginPath(p); err != nil || got != p.Path {
		t.Errorf("PluginPath = %q, %v; want the configured path", got, err)
	}
}

func TestEnabledPluginsSorted(t *testing.T) {
	c, err := config.Load(writeConfig(t, `
plugins:
  websocket: {enabled: true}
  irc: {enabled: false}
  telnet: {enabled: true}
  ssh: {enabled: true}
`))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var names []string
	for _, p := range c.EnabledPlugins() {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"ssh", "telnet", "websocket"}) {
		t.Errorf("EnabledPlugins = %q, want ssh, telnet, websocket", names)
	}
}

func TestPluginPathDefault(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip("no executable path:", err)
	}
	c := &config.Config{}
	got, err := c.PluginPath(config.Plugin{Name: "telnet"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(exe), "portico-telnet"); got != want {
		t.Errorf("PluginPath = %q, want %q", got, want)
	}
}

// TestSampleConfig keeps the repository's config.yaml loadable, so that the
// sample cannot rot.
func TestSampleConfig(t *testing.T) {
	c, err := config.Load(filepath.Join("..", "..", "config.yaml"))
	if err != nil {
		t.Fatalf("the sample config.yaml does not load: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("the sample config.yaml does not validate: %v", err)
	}
	tel, ok := c.Plugins["telnet"]
	if !ok || !tel.Enabled {
		t.Errorf("the sample config does not enable telnet: %+v", tel)
	}
	if tel.Config["listen"] == nil {
		t.Errorf("telnet config = %v, want a listen address", tel.Config)
	}
	if c.Server.Name == "" || !filepath.IsAbs(c.Server.DataDir) {
		t.Errorf("server = %+v", c.Server)
	}
}

func TestLoadThrottleKeys(t *testing.T) {
	c, err := config.Load(writeConfig(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	if c.Server.WhoBeforeLogin || l.CreateAttempts != 10 || l.CreateAttemptWindow != 10*time.Minute ||
		l.AddressLoginFailures != 20 || l.AccountLoginFailures != 50 || l.AccountLoginFailureWindow != time.Hour ||
		l.LoginFailures != 5 || l.AccountCreations != 2 {
		t.Errorf("defaults: who_before_login %v, limits %+v", c.Server.WhoBeforeLogin, l)
	}
	c, err = config.Load(writeConfig(t, `server:
  who_before_login: true
limits:
  create_attempts: 3
  create_attempt_window: 1m
  address_login_failures: 7
  account_login_failures: 9
  account_login_failure_window: 2h
`))
	if err != nil {
		t.Fatal(err)
	}
	l = c.Limits
	if !c.Server.WhoBeforeLogin || l.CreateAttempts != 3 || l.CreateAttemptWindow != time.Minute ||
		l.AddressLoginFailures != 7 || l.AccountLoginFailures != 9 || l.AccountLoginFailureWindow != 2*time.Hour {
		t.Errorf("set: who_before_login %v, limits %+v", c.Server.WhoBeforeLogin, l)
	}
	for body, want := range map[string]string{
		"limits:\n  create_attempts: -1\n":               "limits.create_attempts: must not be negative",
		"limits:\n  account_login_failures: -1\n":        "limits.account_login_failures: must not be negative",
		"limits:\n  address_login_failures: x\n":         "limits.address_login_failures: want a whole number",
		"limits:\n  create_attempt_window: soon\n":       "limits.create_attempt_window: want a duration",
		"limits:\n  account_login_failure_window: -1m\n": "limits.account_login_failure_window: must not be negative",
		"server:\n  who_before_login: perhaps\n":         "server.who_before_login: want true or false",
	} {
		if got := loadErr(t, body); !strings.Contains(got, want) {
			t.Errorf("%q: error %q, want it to say %q", body, got, want)
		}
	}
}
