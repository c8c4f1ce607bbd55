package config_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/config"
)

// TestPluginLinkSecurityKeys: server.plugin_mtls and plugins.<name>.sha256
// load, default off, and a bad digest is an error naming the key.
func TestPluginLinkSecurityKeys(t *testing.T) {
	const digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	c, err := config.Load(writeConfig(t, `
server:
  plugin_mtls: true
plugins:
  telnet:
    enabled: true
    sha256: "`+strings.ToUpper(digest)+`"
  ssh:
    enabled: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Server.PluginMTLS {
		t.Error("server.plugin_mtls: true not loaded")
	}
	want, _ := hex.DecodeString(digest)
	if !bytes.Equal(c.Plugins["telnet"].SHA256, want) {
		t.Errorf("telnet sha256 = %x, want %s", c.Plugins["telnet"].SHA256, digest)
	}
	if c.Plugins["ssh"].SHA256 != nil {
		t.Errorf("ssh has a digest it was not given: %x", c.Plugins["ssh"].SHA256)
	}

	d, err := config.Load(writeConfig(t, "plugins:\n  telnet:\n    enabled: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Server.PluginMTLS {
		t.Error("plugin_mtls is on by default")
	}

	for body, wantErr := range map[string]string{
		"plugins:\n  telnet:\n    sha256: abc\n":                      `plugins.telnet.sha256: want 64 hex digits (sha256sum's output), got "abc"`,
		"plugins:\n  telnet:\n    sha256: \"" + digest[:63] + "z\"\n": "plugins.telnet.sha256: want 64 hex digits",
		"plugins:\n  telnet:\n    sha256:\n      nested: 1\n":         "plugins.telnet.sha256.nested: unknown key",
		"plugins:\n  telnet:\n    sha256: 1234\n":                     "plugins.telnet.sha256: want 64 hex digits (sha256sum's output) in quotes, got 1234",
		"server:\n  plugin_mtls: maybe\n":                             `server.plugin_mtls: want true or false, got "maybe"`,
		"plugins:\n  telnet:\n    checksum: \"" + digest + "\"\n":     "plugins.telnet.checksum: unknown key (want enabled, path, remote, protocol, sha256, trust_key_logins or config)",
	} {
		if got := loadErr(t, body); !strings.Contains(got, wantErr) {
			t.Errorf("config:\n%s\nerror %q does not contain %q", body, got, wantErr)
		}
	}
}

// TestPluginLinkSecurityEnv: both keys can come from the environment.
func TestPluginLinkSecurityEnv(t *testing.T) {
	const digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	t.Setenv("PORTICO_SERVER_PLUGIN_MTLS", "true")
	t.Setenv("PORTICO_PLUGINS_TELNET_SHA256", digest)
	c, err := config.Load(writeConfig(t, "plugins:\n  telnet:\n    enabled: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Server.PluginMTLS || hex.EncodeToString(c.Plugins["telnet"].SHA256) != digest {
		t.Fatalf("from the environment: mtls %v sha256 %x", c.Server.PluginMTLS, c.Plugins["telnet"].SHA256)
	}
}
