package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/config"
)

// TestPortalListen: server.portal_listen is off by default, takes host:port
// (the host optional), and anything else is refused naming the key.
func TestPortalListen(t *testing.T) {
	c, err := config.Load(writeConfig(t, "server:\n  data_dir: d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.PortalListen != "" {
		t.Errorf("portal_listen defaults to %q", c.Server.PortalListen)
	}
	for _, ok := range []string{"0.0.0.0:7400", ":7400", "127.0.0.1:1", "[::1]:65535", "host.example:7400"} {
		c, err := config.Load(writeConfig(t, "server:\n  portal_listen: \""+ok+"\"\n"))
		if err != nil {
			t.Errorf("portal_listen %q: %v", ok, err)
			continue
		}
		if c.Server.PortalListen != ok {
			t.Errorf("portal_listen %q loaded as %q", ok, c.Server.PortalListen)
		}
	}
	for bad, want := range map[string]string{
		"7400":           `server.portal_listen: want host:port (such as 0.0.0.0:7400 or :7400), got "7400"`,
		"0.0.0.0:":       `server.portal_listen: want a port from 1 to 65535, got ""`,
		"0.0.0.0:0":      `server.portal_listen: want a port from 1 to 65535, got "0"`,
		"0.0.0.0:70000":  `server.portal_listen: want a port from 1 to 65535, got "70000"`,
		"0.0.0.0:telnet": `server.portal_listen: want a port from 1 to 65535, got "telnet"`,
	} {
		if got := loadErr(t, "server:\n  portal_listen: \""+bad+"\"\n"); !strings.Contains(got, want) {
			t.Errorf("portal_listen %q: error %q, want %q", bad, got, want)
		}
	}
}

// TestRemotePluginKeys: remote: true loads, and a remote block is refused
// with path or sha256 (the host launches nothing), or without
// server.portal_listen to dial, each problem naming its key.
func TestRemotePluginKeys(t *testing.T) {
	c, err := config.Load(writeConfig(t, `
server:
  portal_listen: ":7400"
plugins:
  telnet-eu:
    enabled: true
    remote: true
    protocol: telnet
    config:
      listen: ":4000"
  telnet:
    enabled: true
`))
	if err != nil {
		t.Fatal(err)
	}
	eu := c.Plugins["telnet-eu"]
	if !eu.Remote || eu.Protocol != "telnet" || eu.Config["listen"] != ":4000" {
		t.Errorf("telnet-eu = %+v", eu)
	}
	if c.Plugins["telnet"].Remote {
		t.Error("remote defaults to true")
	}
	if _, err := c.PluginPath(eu); err == nil || !strings.Contains(err.Error(), "plugins.telnet-eu is remote") {
		t.Errorf("PluginPath of a remote plugin: %v", err)
	}
	const digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for body, want := range map[string]string{
		"server:\n  portal_listen: \":7400\"\nplugins:\n  eu:\n    remote: true\n    path: /bin/true\n":            "plugins.eu.path: a remote plugin is started on its own machine, never by the host: remove path (or remote: true)",
		"server:\n  portal_listen: \":7400\"\nplugins:\n  eu:\n    remote: true\n    sha256: \"" + digest + "\"\n": "plugins.eu.sha256: a remote plugin is started on its own machine",
		"plugins:\n  eu:\n    enabled: true\n    remote: true\n":                                                   "plugins.eu.remote: an enabled remote plugin dials server.portal_listen, which is empty",
		"plugins:\n  eu:\n    remote: maybe\n":                                                                     `plugins.eu.remote: want true or false, got "maybe"`,
		"plugins:\n  eu:\n    protocol: Telnet\n":                                                                  "plugins.eu.protocol: protocol names follow the plugin name rule",
	} {
		if got := loadErr(t, body); !strings.Contains(got, want) {
			t.Errorf("config:\n%s\nerror %q does not contain %q", body, got, want)
		}
	}
	// A disabled remote block needs no portal_listen yet.
	if _, err := config.Load(writeConfig(t, "plugins:\n  eu:\n    remote: true\n")); err != nil {
		t.Errorf("a disabled remote block without portal_listen: %v", err)
	}
}

// TestProtocolName: a local block runs its protocol key, else its name,
// and its default binary is portico-<protocol>; a remote block without the
// key takes whatever protocol the plugin reports ("").
func TestProtocolName(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &config.Config{}
	for _, tc := range []struct {
		p        config.Plugin
		protocol string
		binary   string
	}{
		{config.Plugin{Name: "telnet"}, "telnet", "portico-telnet"},
		{config.Plugin{Name: "telnet-b", Protocol: "telnet"}, "telnet", "portico-telnet"},
		{config.Plugin{Name: "telnet-eu", Remote: true}, "", ""},
		{config.Plugin{Name: "telnet-eu", Remote: true, Protocol: "telnet"}, "telnet", ""},
		{config.Plugin{Name: "telnet-c", Protocol: "telnet", Path: "/opt/t"}, "telnet", "/opt/t"},
	} {
		if got := tc.p.ProtocolName(); got != tc.protocol {
			t.Errorf("%+v: ProtocolName = %q, want %q", tc.p, got, tc.protocol)
		}
		path, err := c.PluginPath(tc.p)
		switch {
		case tc.binary == "":
			if err == nil {
				t.Errorf("%+v: PluginPath = %q, want an error", tc.p, path)
			}
		case filepath.IsAbs(tc.binary):
			if path != tc.binary {
				t.Errorf("%+v: PluginPath = %q, %v", tc.p, path, err)
			}
		default:
			if want := filepath.Join(filepath.Dir(exe), tc.binary); path != want || err != nil {
				t.Errorf("%+v: PluginPath = %q, %v; want %q", tc.p, path, err, want)
			}
		}
	}
}

// TestCheckPluginName: the rule Validate applies to block names, exported
// for names that must be block names (a certificate's).
func TestCheckPluginName(t *testing.T) {
	for _, ok := range []string{"telnet", "telnet-eu", "t_2"} {
		if err := config.CheckPluginName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Telnet", "2telnet", "a.b", strings.Repeat("x", 33)} {
		if err := config.CheckPluginName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
