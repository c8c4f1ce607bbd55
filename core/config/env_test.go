package config_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/sdk/contract"
	"go.yaml.in/yaml/v3"
)

// shippedConfig is the repository's config.yaml.
var shippedConfig = filepath.Join("..", "..", "config.yaml")

// otherValue returns a value of t's type that differs from cur (and stays
// within the key's bounds), and how the environment spells it.
func otherValue(t *testing.T, key string, cur any) (any, string) {
	t.Helper()
	switch x := cur.(type) {
	case string:
		// Keys that take one of a few words.
		switch key {
		case "log.level":
			return "debug", "debug"
		case "log.format":
			return "json", "json"
		}
		v := "/env/" + key // absolute, so that a path key keeps it as is
		switch {
		case key == "server.database":
			v = "postgres://env@/env" // a URL or nothing
		case key == config.PortalListenKey:
			v = "127.0.0.1:7499" // an address or nothing
		case strings.HasSuffix(key, ".protocol"):
			v = "envproto" // named as a plugin is
		}
		return v, v
	case bool:
		return !x, fmt.Sprint(!x)
	case int:
		v := x + 1
		if key == "server.multisession_mode" && v > 3 {
			v = x - 1
		}
		return v, fmt.Sprint(v)
	case uint32:
		return x + 1, fmt.Sprint(x + 1)
	case time.Duration:
		v := x + 7*time.Second
		return v, v.String()
	case contract.Addresses:
		return contract.Addresses("192.0.2.0/24,2001:db8::1"), "192.0.2.0/24, 2001:db8::1"
	case config.Digest:
		v := make(config.Digest, 32)
		for i := range v {
			v[i] = byte(i) ^ 0x5a
		}
		return v, hex.EncodeToString(v)
	}
	t.Fatalf("%s: no test value for a %T: teach otherValue the type", key, cur)
	return nil, ""
}

// otherYAML returns a plugin config value unlike cur, as YAML.
func otherYAML(cur any) any {
	switch x := cur.(type) {
	case string:
		return "127.0.0.1:4999"
	case int:
		return x + 3
	case bool:
		return !x
	case []any:
		return []any{"env-a", "env-b"}
	case map[string]any:
		return map[string]any{"genre": "env", "port": 4999}
	}
	return "from-env"
}

// TestEnvOverridesEveryKey: every host key (from the struct, so that a new
// key is covered without touching this test) and every key of every
// plugin block of the shipped config.yaml (enabled, path, sha256 — the
// Plugin struct's keys — and each top-level key of its config block) is
// overridden by its environment variable, with the value the variable
// gives and nothing else changed.
func TestEnvOverridesEveryKey(t *testing.T) {
	base, err := config.Load(shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range config.Keys() {
		t.Run(k.Name, func(t *testing.T) {
			want, env := otherValue(t, k.Name, k.Value(base))
			t.Setenv(k.Env, env)
			c, err := config.Load(shippedConfig)
			if err != nil {
				t.Fatalf("%s=%s: %v", k.Env, env, err)
			}
			if got := k.Value(c); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s=%s: %s = %v, want %v", k.Env, env, k.Name, got, want)
			}
			for _, other := range config.Keys() {
				if other.Name != k.Name && !reflect.DeepEqual(other.Value(c), other.Value(base)) {
					t.Errorf("%s=%s also changed %s", k.Env, env, other.Name)
				}
			}
		})
	}
	if len(base.Plugins) < 4 {
		t.Fatalf("the shipped config has %d plugin blocks; want telnet, irc, websocket and ssh", len(base.Plugins))
	}
	pluginFields := reflect.TypeFor[config.Plugin]()
	for name, p := range base.Plugins {
		pv := reflect.ValueOf(p)
		envName := "PORTICO_PLUGINS_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		for i := range pluginFields.NumField() {
			tag := pluginFields.Field(i).Tag.Get("mapstructure")
			if tag == "" || tag == "-" || tag == "config" {
				continue
			}
			key := "plugins." + name + "." + tag
			t.Run(key, func(t *testing.T) {
				want, env := otherValue(t, key, pv.Field(i).Interface())
				t.Setenv(envName+"_"+strings.ToUpper(tag), env)
				if tag == "remote" {
					// A remote plugin needs somewhere to dial.
					t.Setenv(config.EnvName(config.PortalListenKey), "127.0.0.1:7499")
				}
				c, err := config.Load(shippedConfig)
				if err != nil {
					t.Fatal(err)
				}
				if got := reflect.ValueOf(c.Plugins[name]).Field(i).Interface(); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s = %#v, want %#v", key, got, want)
				}
			})
		}
		for ck, cv := range p.Config {
			key := "plugins." + name + ".config." + ck
			t.Run(key, func(t *testing.T) {
				want := otherYAML(cv)
				b, err := yaml.Marshal(want)
				if err != nil {
					t.Fatal(err)
				}
				t.Setenv(envName+"_CONFIG_"+strings.ToUpper(ck), string(b))
				c, err := config.Load(shippedConfig)
				if err != nil {
					t.Fatal(err)
				}
				got := c.Plugins[name].Config
				if !reflect.DeepEqual(got[ck], want) {
					t.Fatalf("%s = %#v, want %#v", key, got[ck], want)
				}
				for other, v := range p.Config {
					if other != ck && !reflect.DeepEqual(got[other], v) {
						t.Errorf("also changed config.%s: %#v -> %#v", other, v, got[other])
					}
				}
			})
		}
	}
}

// TestEnvPluginWithoutBlock: the environment alone enables and configures
// a plugin the file does not mention, YAML values included; a name with -
// is written with _.
func TestEnvPluginWithoutBlock(t *testing.T) {
	t.Setenv("PORTICO_PLUGINS_SSH_ENABLED", "true")
	t.Setenv("PORTICO_PLUGINS_SSH_CONFIG_LISTEN", "127.0.0.1:4101")
	t.Setenv("PORTICO_PLUGINS_SSH_CONFIG_MAX_SESSIONS", "3")
	t.Setenv("PORTICO_PLUGINS_MY_CHAT_ENABLED", "yes")
	t.Setenv("PORTICO_PLUGINS_MY_CHAT_PATH", "/opt/chat")
	t.Setenv("PORTICO_PLUGINS_MY_CHAT_CONFIG_ROOMS", "[lobby, bar]")
	t.Setenv("PORTICO_PLUGINS_MY_CHAT_CONFIG_ENABLED", "true") // a config key named like a field
	c, err := config.Load(writeConfig(t, "plugins:\n  telnet:\n    enabled: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	ssh := c.Plugins["ssh"]
	if !ssh.Enabled || ssh.Name != "ssh" || ssh.Config["listen"] != "127.0.0.1:4101" || ssh.Config["max_sessions"] != 3 {
		t.Errorf("ssh = %+v", ssh)
	}
	chat := c.Plugins["my_chat"]
	if !chat.Enabled || chat.Path != "/opt/chat" || !reflect.DeepEqual(chat.Config["rooms"], []any{"lobby", "bar"}) ||
		chat.Config["enabled"] != true {
		t.Errorf("my_chat = %+v", chat)
	}
	var names []string
	for _, p := range c.EnabledPlugins() {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "my_chat,ssh,telnet" {
		t.Errorf("enabled = %v", names)
	}

	// The file's plugin "my-chat" owns PORTICO_PLUGINS_MY_CHAT_*.
	c, err = config.Load(writeConfig(t, "plugins:\n  my-chat:\n    enabled: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Plugins["my-chat"]; !p.Enabled || p.Path != "/opt/chat" {
		t.Errorf("my-chat = %+v, want it set by PORTICO_PLUGINS_MY_CHAT_*", p)
	}
	if _, ok := c.Plugins["my_chat"]; ok {
		t.Error("PORTICO_PLUGINS_MY_CHAT_* made a second plugin beside the file's my-chat")
	}
}

// TestEnvErrors: a bad value from the environment names the variable and
// the key; a variable that names no key is an error, not ignored.
func TestEnvErrors(t *testing.T) {
	for _, tc := range []struct {
		env, value, want string
	}{
		{"PORTICO_PLUGINS_TELNET_ENABLED", "maybe", `$PORTICO_PLUGINS_TELNET_ENABLED: plugins.telnet.enabled: want true or false, got "maybe"`},
		{"PORTICO_SERVER_IDLE_TIMEOUT", "soon", `$PORTICO_SERVER_IDLE_TIMEOUT: server.idle_timeout: want a duration such as 30m, got "soon"`},
		{"PORTICO_LIMITS_COMMAND_RATE", "-4", `$PORTICO_LIMITS_COMMAND_RATE: limits.command_rate: must not be negative, got -4`},
		{"PORTICO_SERVER_NMAE", "x", `$PORTICO_SERVER_NMAE: no such key (did you mean $PORTICO_SERVER_NAME?)`},
		{"PORTICO_LIMITS_COMMAND_RAET", "1", `$PORTICO_LIMITS_COMMAND_RAET: no such key (did you mean $PORTICO_LIMITS_COMMAND_RATE?)`},
		{"PORTICO_PLUGINS_TELNET_ENABLE", "true", `$PORTICO_PLUGINS_TELNET_ENABLE: want PORTICO_PLUGINS_<NAME>_ENABLED, _PATH, _REMOTE, _PROTOCOL, _SHA256, _TRUST_KEY_LOGINS or _CONFIG_<KEY>`},
		{"PORTICO_PLUGINS_TELNET_CONFIG_MSSP", "{genre: [", `$PORTICO_PLUGINS_TELNET_CONFIG_MSSP: plugins.telnet.config.mssp: want a YAML value:`},
		{"PORTICO_PLUGINS_9LIVES_ENABLED", "true", `$PORTICO_PLUGINS_9LIVES_ENABLED: plugins.9lives: plugin names are lower-case`},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			if got := loadErr(t, validConfig); !strings.Contains(got, tc.want) {
				t.Errorf("error %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPluginNamesSharingVariables: two plugin names that map to the same
// variables are an error at start, naming both.
func TestPluginNamesSharingVariables(t *testing.T) {
	got := loadErr(t, "plugins:\n  my-chat:\n    enabled: true\n  my_chat:\n    enabled: true\n")
	if want := `config.yaml:4: plugins.my_chat: its variables (PORTICO_PLUGINS_MY_CHAT_*) are also plugins.my-chat's; rename one of the two`; !strings.Contains(got, want) {
		t.Errorf("error %q, want %q", got, want)
	}
	got = loadErr(t, "plugins:\n  chat:\n    enabled: true\n  chat_config:\n    enabled: true\n")
	if want := `plugins.chat_config: its variables (PORTICO_PLUGINS_CHAT_CONFIG_*) would also be read as plugins.chat.config keys`; !strings.Contains(got, want) {
		t.Errorf("error %q, want %q", got, want)
	}
}

// TestUnknownKeyLine: an unknown key is reported with its file and line,
// and a near miss is suggested.
func TestUnknownKeyLine(t *testing.T) {
	body := "server:\n  name: Game\n\nlimits:\n  comand_rate: 5\nplugins:\n  telnet:\n    enabled: true\n    enabeld: false\n"
	path := writeConfig(t, body)
	_, err := config.Load(path)
	if err == nil {
		t.Fatal("Load accepted unknown keys")
	}
	want := []string{
		path + `:5: limits.comand_rate: unknown key (did you mean "command_rate"?)`,
		path + `:9: plugins.telnet.enabeld: unknown key (did you mean "enabled"?)`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("error:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	var ps config.Problems
	if !errors.As(err, &ps) || len(ps) != 2 || ps[0].Key != "limits.comand_rate" {
		t.Errorf("problems = %#v", ps)
	}
}

// TestBadValueLine: a bad value names its line and says what is wanted.
func TestBadValueLine(t *testing.T) {
	path := writeConfig(t, "plugins:\n  telnet:\n    enabled: maybe\n")
	_, err := config.Load(path)
	if want := path + `:3: plugins.telnet.enabled: want true or false, got "maybe"`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	path = writeConfig(t, "server:\n  name: Game\n  reattach_grace: 500ms\n  multisession_mode: 7\n")
	_, err = config.Load(path)
	want := path + ":3: server.reattach_grace: must be at least 1s, got 500ms\n" +
		path + ":4: server.multisession_mode: must be at most 3, got 7"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

// TestYAMLSyntaxErrorLine: a YAML syntax error names the line at fault.
// For the first four, yaml.v3's own message names the line where the
// enclosing construct began (lines 2, 2, 2 and 1), away from the mistake.
func TestYAMLSyntaxErrorLine(t *testing.T) {
	for _, tc := range []struct {
		body string
		line int
	}{
		{"server:\n  name: Game\n data_dir: x\n", 3},                    // mis-indented key
		{"server:\n  name: Game\n\tdata_dir: x\n", 3},                   // a tab
		{"server:\n  name: Game\n  data_dir: [x\nlimits: {}\n", 3},      // unclosed flow
		{"server:\n  name: Game\n  data_dir: 'it's'\n", 3},              // quoting
		{"limits:\n  command_rate: 5\n  login_failures 5\n  x: 1\n", 3}, // a missing colon
		{"server:\n  name: Game\nplugins:\n  telnet:\n    config:\n      listen: \":4000\n", 6},
	} {
		path := writeConfig(t, tc.body)
		_, err := config.Load(path)
		want := fmt.Sprintf("%s:%d: YAML syntax error: ", path, tc.line)
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v, want one line starting %q", tc.body, err, want)
		}
	}
}

// TestKeysGivenTwice: a key given twice is an error on the second.
func TestKeysGivenTwice(t *testing.T) {
	path := writeConfig(t, "server:\n  name: A\n  name: B\n")
	_, err := config.Load(path)
	if want := path + ":3: server.name: given twice (first on line 2)"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// TestChangesLiveTags: a change of a key without the live tag is named as
// fixed; live ones only as changed.
func TestChangesLiveTags(t *testing.T) {
	cur := config.Default()
	next := config.Default()
	next.Server.Name = "Other"
	next.Limits.CommandRate = 5
	changed, fixed := config.Changes(&cur, &next)
	if strings.Join(changed, ",") != "server.name,limits.command_rate" || len(fixed) != 0 {
		t.Errorf("changed %v fixed %v", changed, fixed)
	}
	next.Server.DataDir = "/elsewhere"
	next.Server.Argon2Time = 3
	changed, fixed = config.Changes(&cur, &next)
	if strings.Join(fixed, ",") != "server.data_dir,server.argon2_time" || len(changed) != 4 {
		t.Errorf("changed %v fixed %v", changed, fixed)
	}
	// Every key either is live or is named as needing a restart in its
	// documentation: a reader of config.yaml knows which is which.
	for _, k := range config.Keys() {
		if !k.Live && !strings.Contains(docOf(t, k.Name), "Needs a host restart to change") {
			t.Errorf("%s is not live, and its comment in config.yaml does not say it needs a host restart", k.Name)
		}
	}
}

// docOf returns config.yaml's comment above key.
func docOf(t *testing.T, key string) string {
	t.Helper()
	b, err := os.ReadFile(shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	n := doc.Content[0]
	var comment string
	for _, seg := range strings.Split(key, ".") {
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == seg {
				comment, n, found = n.Content[i].HeadComment, n.Content[i+1], true
				break
			}
		}
		if !found {
			t.Fatalf("%s not in config.yaml", key)
		}
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(comment, "#", "")), " ")
}

func TestSecret(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "nickserv_password": true, "api_key": true, "apikey": true, "token": true,
		"client-secret": true, "host_key": true, "tls_key": true, "private_key_file": true,
		"public_key": false, "listen": false, "keepalive": false, "sha256": false, "keys": false, "tls_cert": false,
		"max_sessions": false, "monkey": false, "password_min_length": false, "token_file": false, "passwords": false,
	} {
		if got := config.Secret(name); got != want {
			t.Errorf("Secret(%q) = %v, want %v", name, got, want)
		}
	}
}
