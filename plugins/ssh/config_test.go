package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
)

func decodeConfig(raw map[string]any) (Config, error) {
	c := defaultConfig()
	if err := (sdk.Config{Raw: raw}).Decode(&c); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func TestConfigDefaults(t *testing.T) {
	c, err := decodeConfig(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":4001" || time.Duration(c.LoginGrace) != 20*time.Second ||
		time.Duration(c.LoginTimeout) != 30*time.Second || c.IdleTimeout != 0 ||
		c.MaxTimeout != 0 || time.Duration(c.Keepalive) != 30*time.Second || time.Duration(c.ExecTimeout) != 30*time.Second ||
		c.MaxConnections != 1000 || c.MaxSessions != 10 || c.MaxLineLength != 0 || c.HostKey != "" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfigValues(t *testing.T) {
	c, err := decodeConfig(map[string]any{"listen": "127.0.0.1:2222", "login_grace": "3s", "login_timeout": "5s",
		"idle_timeout": 0, "keepalive": 15, "max_timeout": "12h", "exec_timeout": "1m"})
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.LoginGrace) != 3*time.Second || time.Duration(c.LoginTimeout) != 5*time.Second ||
		time.Duration(c.Keepalive) != 15*time.Second ||
		time.Duration(c.MaxTimeout) != 12*time.Hour || time.Duration(c.ExecTimeout) != time.Minute {
		t.Fatalf("parsed %+v", c)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		raw map[string]any
		key string
	}{
		{map[string]any{"listne": ":1"}, "listne"},
		{map[string]any{"listen": "nope"}, "listen"},
		{map[string]any{"login_timeout": "soon"}, "login_timeout"},
		{map[string]any{"login_timeout": "0"}, "login_timeout"},
		{map[string]any{"login_grace": "later"}, "login_grace"},
		{map[string]any{"login_grace": 0}, "login_grace"},
		{map[string]any{"login_grace": "-5s"}, "login_grace"},
		{map[string]any{"keepalive": "-1s"}, "keepalive"},
		{map[string]any{"exec_timeout": 0}, "exec_timeout"},
		{map[string]any{"max_line_length": -1}, "max_line_length"},
		{map[string]any{"max_connections": 0}, "max_connections"},
		{map[string]any{"max_sessions": "ten"}, "max_sessions"},
	} {
		_, err := decodeConfig(tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("config %v: error %v does not name %q", tc.raw, err, tc.key)
		}
	}
}

// TestReadmeDocumentsEveryKey: every config key is in README.md's table
// with its default, and the README's example block only uses known keys.
func TestReadmeDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	keys := regexp.MustCompile("json:\"([a-z_]+)\"").FindAllStringSubmatch(mustRead(t, "config.go"), -1)
	if len(keys) < 10 {
		t.Fatalf("found only %d config keys in config.go", len(keys))
	}
	for _, k := range keys {
		if !strings.Contains(readme, "| `"+k[1]+"` |") {
			t.Errorf("README.md has no table row for config key %s", k[1])
		}
	}
	// The example block decodes into a valid config.
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no yaml example")
	}
	raw := map[string]any{}
	in := false
	for _, l := range strings.Split(m[1], "\n") {
		if strings.TrimSpace(l) == "config:" {
			in = true
			continue
		}
		if !in || strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok {
			t.Fatalf("example line %q", l)
		}
		v = strings.TrimSpace(v)
		if n, err := strconv.Atoi(v); err == nil {
			raw[k] = n
		} else {
			raw[k] = strings.Trim(v, `"`)
		}
	}
	if len(raw) == 0 {
		t.Fatal("the example sets no config key")
	}
	if _, err := decodeConfig(raw); err != nil {
		t.Fatalf("README example: %v", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
