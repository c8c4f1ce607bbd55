package launch

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"

	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/wire"
)

// TestEnviron: the plugin gets the host's environment with its own
// variables set, never a socket directory or group of the host's own (a
// group would make the Link's socket group-writable), and the caller's
// slice is left as it was.
func TestEnviron(t *testing.T) {
	base := []string{"PATH=/bin", hplugin.EnvUnixSocketDir + "=/tmp", hplugin.EnvUnixSocketGroup + "=staff", "HOME=/home/h"}
	orig := slices.Clone(base)
	tests := []struct {
		name string
		env  Env
		want []string
	}{
		{"a run", Env{DataDir: "/srv/game", PluginName: "telnet", SocketDir: "/srv/game/run/plugins"}, []string{
			"PATH=/bin", "HOME=/home/h", sdk.EnvDataDir + "=/srv/game", sdk.EnvPluginName + "=telnet",
			hplugin.EnvUnixSocketDir + "=/srv/game/run/plugins"}},
		{"a check: no data directory", Env{PluginName: "ssh", SocketDir: "/tmp/portico-check-1"}, []string{
			"PATH=/bin", "HOME=/home/h", sdk.EnvPluginName + "=ssh", hplugin.EnvUnixSocketDir + "=/tmp/portico-check-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Environ(base, tt.env); !slices.Equal(got, tt.want) {
				t.Errorf("Environ:\n got %q\nwant %q", got, tt.want)
			}
			if !slices.Equal(base, orig) {
				t.Errorf("Environ changed its base: %q", base)
			}
		})
	}
}

// TestConfig: a launch offers exactly the versions asked for, each with
// the portal plugin (one this SDK does not know with the current
// version's), over gRPC only, with the shared handshake.
func TestConfig(t *testing.T) {
	cmd := exec.Command("/bin/true")
	const unknown = 99
	cc := Config(cmd, []int{sdk.ProtocolVersion, unknown})
	if cc.Cmd != cmd {
		t.Error("Config does not launch the command given")
	}
	if cc.HandshakeConfig != sdk.Handshake {
		t.Errorf("handshake %+v, want sdk.Handshake", cc.HandshakeConfig)
	}
	if !slices.Equal(cc.AllowedProtocols, []hplugin.Protocol{hplugin.ProtocolGRPC}) {
		t.Errorf("allowed protocols %v, want gRPC only", cc.AllowedProtocols)
	}
	if len(cc.VersionedPlugins) != 2 {
		t.Fatalf("offers %d versions, want 2", len(cc.VersionedPlugins))
	}
	for _, v := range []int{sdk.ProtocolVersion, unknown} {
		if _, ok := cc.VersionedPlugins[v][sdk.PluginName].(*sdk.GRPCPlugin); !ok {
			t.Errorf("version %d does not offer the portal plugin: %v", v, cc.VersionedPlugins[v])
		}
	}
	if cc.Plugins != nil || cc.Reattach != nil {
		t.Error("a launch config has Plugins or Reattach set")
	}
	if len(cc.GRPCDialOptions) == 0 || cc.StartTimeout != StartTimeout {
		t.Errorf("dial options %d, start timeout %v: want the Link's limits and %v", len(cc.GRPCDialOptions), cc.StartTimeout, StartTimeout)
	}
}

// TestReattach: a reattach names the process, and dispenses from Plugins
// (what go-plugin uses on a reattach) for the version it was launched with.
func TestReattach(t *testing.T) {
	rc := &hplugin.ReattachConfig{Protocol: hplugin.ProtocolGRPC, ProtocolVersion: sdk.ProtocolVersion,
		Addr: &net.UnixAddr{Net: "unix", Name: "/run/p/plugin1"}, Pid: 42}
	cc := Reattach(rc)
	if cc.Reattach != rc || cc.Cmd != nil {
		t.Errorf("reattach %v, cmd %v: want the process given and no command", cc.Reattach, cc.Cmd)
	}
	if _, ok := cc.Plugins[sdk.PluginName].(*sdk.GRPCPlugin); !ok {
		t.Errorf("Plugins %v: want the portal plugin of version %d", cc.Plugins, sdk.ProtocolVersion)
	}
	if cc.HandshakeConfig != sdk.Handshake || !slices.Equal(cc.AllowedProtocols, []hplugin.Protocol{hplugin.ProtocolGRPC}) {
		t.Errorf("handshake %+v over %v: want sdk.Handshake over gRPC", cc.HandshakeConfig, cc.AllowedProtocols)
	}
}

// The host speaks whatever data link version the plugin answers, from 1
// (a plugin built before data frames) to its own, and records it on the
// link's reader; any other answer fails with the versions named.
func TestHelloDataVersions(t *testing.T) {
	for _, answer := range []byte{1, 2, 0, wire.DataLinkVersion + 1} {
		hostSide, pluginSide := net.Pipe()
		go func() {
			defer pluginSide.Close()
			rd := wire.NewFrameReader(pluginSide)
			if _, _, err := rd.Next(); err != nil {
				return
			}
			_, _ = pluginSide.Write(wire.AppendHello(nil, answer, nil))
			_, _ = io.Copy(io.Discard, pluginSide)
		}()
		conn, rd, err := HelloData(context.Background(), hostSide, "test", make([]byte, wire.SecretSize))
		ok := answer >= 1 && answer <= wire.DataLinkVersion
		switch {
		case ok && err != nil:
			t.Errorf("answer %d: %v", answer, err)
		case ok && rd.Version() != answer:
			t.Errorf("answer %d: the link's reader speaks %d", answer, rd.Version())
		case !ok && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("version %d", answer))):
			t.Errorf("answer %d: %v, want an error naming the version", answer, err)
		}
		if conn != nil {
			conn.Close()
		}
		hostSide.Close()
	}
}
