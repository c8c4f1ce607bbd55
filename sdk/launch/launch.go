// Package launch is the host side of go-plugin for a Portico plugin: how a
// host launches a plugin binary, or reattaches to a plugin process it (or
// an earlier image of it) launched, and gets the plugin's portal client.
// It holds what must be the same in every host: the handshake, the
// contract versions offered, gRPC as the only transport, the Link's
// message size limit, and the environment a plugin is started with.
//
// The Portico host (core/plugins) and the conformance kit's real-binary
// mode (sdk/plugintest) both build their go-plugin clients here, so that
// the kit launches a plugin exactly as the host does. A plugin author
// does not need the package: sdk.Serve is the plugin's side.
//
// The package must not import the host (core) or the command line (cmd).
package launch

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/logging"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc"
)

// StartTimeout bounds a launch: the process's start and its handshake.
const StartTimeout = 20 * time.Second

// Env is what a host tells a plugin it launches, through the plugin's
// environment.
type Env struct {
	// DataDir is the host's data directory (sdk.EnvDataDir), where the
	// plugin writes its log. Empty leaves the variable as the host's own
	// environment has it: a plugin launched only to check its config
	// writes no log file.
	DataDir string
	// PluginName is the plugin's name in the host's config
	// (sdk.EnvPluginName).
	PluginName string
	// SocketDir is the directory the plugin makes the Link's unix socket
	// in. It should be private to the host (0700): whoever can connect to
	// the socket can speak for every session of the plugin.
	SocketDir string
	// Log is the host's log options (logging.Options.Encode), handed on
	// in logging.EnvOptions so that the plugin logs in the host's format
	// and level; empty leaves the plugin's defaults.
	Log string
}

// Environ returns the environment for a plugin: base (the host's own, as
// os.Environ returns it) with e's variables set.
//
// go-plugin (v1.8.0) honours ClientConfig.UnixSocketConfig.TempDir only
// with a RunnerFunc; otherwise the plugin makes its socket in os.TempDir
// (/tmp), where other local users can see it. The plugin's go-plugin Serve
// reads the socket directory from PLUGIN_UNIX_SOCKET_DIR instead, so the
// directory is named there. A PLUGIN_UNIX_SOCKET_GROUP in base would make
// the socket group-writable: it is not passed on.
func Environ(base []string, e Env) []string {
	env := slices.DeleteFunc(slices.Clone(base), func(kv string) bool {
		return strings.HasPrefix(kv, hplugin.EnvUnixSocketDir+"=") || strings.HasPrefix(kv, hplugin.EnvUnixSocketGroup+"=") ||
			strings.HasPrefix(kv, logging.EnvOptions+"=")
	})
	if e.DataDir != "" {
		env = append(env, sdk.EnvDataDir+"="+e.DataDir)
	}
	if e.Log != "" {
		env = append(env, logging.EnvOptions+"="+e.Log)
	}
	return append(env, sdk.EnvPluginName+"="+e.PluginName, hplugin.EnvUnixSocketDir+"="+e.SocketDir)
}

// Config returns go-plugin's client config for launching cmd (its Env made
// by Environ), offering the contract versions given; go-plugin agrees on
// the newest one the plugin also speaks, or fails with an error that
// sdk.DetectVersionMismatch recognises. A version this SDK does not know
// is offered with the current version's plugin set: it stands for a host
// built against another SDK (a test of version negotiation), and no plugin
// will agree on it anyway.
//
// The caller adds what is its own: a Logger, Stderr, a checksum
// (SecureConfig), AutoMTLS.
func Config(cmd *exec.Cmd, versions []int) *hplugin.ClientConfig {
	known := sdk.PluginSets(nil)
	sets := make(map[int]hplugin.PluginSet, len(versions))
	for _, v := range versions {
		set, ok := known[v]
		if !ok {
			set = known[sdk.ProtocolVersion]
		}
		sets[v] = set
	}
	return &hplugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sets,
		AllowedProtocols: []hplugin.Protocol{hplugin.ProtocolGRPC},
		Cmd:              cmd,
		GRPCDialOptions:  DialOptions(),
		StartTimeout:     StartTimeout,
	}
}

// Reattach returns go-plugin's client config for reattaching to the plugin
// process rc names. rc.ProtocolVersion must be the contract version that
// process was launched with: go-plugin does not keep the negotiated
// version in the ReattachConfig a launched Client returns, nor learns it
// on a reattach (Client.NegotiatedVersion stays 0), so the host keeps it
// itself.
//
// The caller adds what is its own: a Logger, and the TLS config of a
// plugin launched with AutoMTLS (go-plugin applies AutoMTLS to launches
// only).
func Reattach(rc *hplugin.ReattachConfig) *hplugin.ClientConfig {
	return &hplugin.ClientConfig{
		HandshakeConfig: sdk.Handshake,
		// go-plugin picks Plugins, not VersionedPlugins, on a reattach.
		Plugins:          sdk.PluginSets(nil)[rc.ProtocolVersion],
		Reattach:         rc,
		AllowedProtocols: []hplugin.Protocol{hplugin.ProtocolGRPC},
		GRPCDialOptions:  DialOptions(),
		StartTimeout:     StartTimeout,
	}
}

// DialOptions are the gRPC options of a host's connection to a plugin:
// the Link's message size limit and static flow-control windows, which
// the plugin's server shares (sdk.Serve); both come from sdk/wire.
func DialOptions() []grpc.DialOption { return wire.DialOptions() }

// Dispense returns the plugin's portal client from rpc, a connected
// go-plugin client (Client.Client's result).
func Dispense(rpc hplugin.ClientProtocol) (portalpb.PortalClient, error) {
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		return nil, fmt.Errorf("dispense: %w", err)
	}
	portal, ok := raw.(portalpb.PortalClient)
	if !ok {
		return nil, fmt.Errorf("dispensed %T, not a portal client", raw)
	}
	return portal, nil
}
