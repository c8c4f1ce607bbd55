// Package launch is the host side of go-plugin for a Portico plugin: how a
// host launches a plugin binary, or reattaches to a plugin process it (or
// an earlier image of it) launched, and gets the plugin's portal client.
// It holds what must be the same in every host: the handshake, the
// contract versions offered, gRPC as the only transport, the Link's
// message size limit, the environment a plugin is started with, and how a
// host dials the plugin's data socket and proves itself there (DialData).
//
// The Portico host (core/plugins) and the conformance kit's real-binary
// mode (sdk/plugintest) both build their go-plugin clients here, so that
// the kit launches a plugin exactly as the host does. A plugin author
// does not need the package: sdk.Serve is the plugin's side.
//
// The package must not import the host (core) or the command line (cmd).
package launch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
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

// DataHelloTimeout bounds DialData's dial and hello when its context has
// no earlier deadline.
const DataHelloTimeout = 10 * time.Second

// DialData opens a plugin's data socket as a host does (see sdk's
// ListenData): it dials path, over TLS when tc is set (DataTLS), proves
// itself with secret as its first frame, and waits for the plugin's hello,
// within ctx and DataHelloTimeout. It returns the connection and the
// reader of the plugin's frames that follow; the data link version both
// speak is the one this package's wire speaks (the only one so far).
func DialData(ctx context.Context, path string, secret []byte, tc *tls.Config) (net.Conn, *wire.FrameReader, error) {
	ctx, cancel := context.WithTimeout(ctx, DataHelloTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, nil, fmt.Errorf("data socket: %w", err)
	}
	if tc != nil {
		conn = tls.Client(conn, tc)
	}
	return HelloData(ctx, conn, path, secret)
}

// HelloData proves the host on conn, a connection to a plugin's data link
// (a data socket DialData dialled, or a remote plugin's data stream, see
// sdk/edge), with secret as its first frame, and waits for the plugin's
// hello, within ctx and DataHelloTimeout; where names the link in errors.
// conn is closed when it fails.
func HelloData(ctx context.Context, conn net.Conn, where string, secret []byte) (net.Conn, *wire.FrameReader, error) {
	ctx, cancel := context.WithTimeout(ctx, DataHelloTimeout)
	defer cancel()
	// The deadline also ends a write or read when ctx ends first.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	rd := wire.NewFrameReader(conn)
	fail := func(err error) (net.Conn, *wire.FrameReader, error) {
		conn.Close()
		return nil, nil, fmt.Errorf("data socket %s: %w", where, err)
	}
	if _, err := conn.Write(wire.AppendHello(nil, wire.DataLinkVersion, secret)); err != nil {
		return fail(err)
	}
	typ, body, err := rd.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the plugin closed the connection: it refused the secret")
		}
		return fail(err)
	}
	if typ != wire.FrameHello {
		return fail(fmt.Errorf("a %v frame instead of the plugin's hello", typ))
	}
	// The plugin answers the lower of its version and the host's: a plugin
	// built before data frames speaks version 1, and is spoken to in it.
	v, _, err := wire.ParseHello(body)
	if err != nil || v < 1 || v > wire.DataLinkVersion {
		return fail(fmt.Errorf("the plugin answered data link version %d (err %v); this host speaks 1 to %d", v, err, wire.DataLinkVersion))
	}
	rd.Agree(v)
	if !stop() {
		return fail(ctx.Err())
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, rd, nil
}

// DataTLS is a host's TLS config for a plugin's data socket under
// AutoMTLS: it presents pair, the client key pair go-plugin's AutoMTLS
// gave the plugin (its certificate is the one the plugin accepts), and
// trusts only pluginCert, the certificate (DER) the plugin named in its
// Configure answer over the mutually authenticated gRPC connection.
func DataTLS(pair tls.Certificate, pluginCert []byte) (*tls.Config, error) {
	cert, err := x509.ParseCertificate(pluginCert)
	if err != nil {
		return nil, fmt.Errorf("data socket: the plugin's certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, ServerName: "localhost",
		MinVersion: tls.VersionTLS13}, nil
}
