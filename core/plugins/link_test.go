package plugins

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/leakcheck"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// envTestPlugin makes this test binary serve as a plugin when the manager
// launches it (go-plugin's helper-process pattern): its value says which
// contract versions to serve.
const envTestPlugin = "PORTICO_PLUGINS_TEST_PLUGIN"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envTestPlugin); mode != "" {
		serveTestPlugin(mode)
		os.Exit(0)
	}
	leakcheck.Main(m)
}

// quietPlugin is a plugin with no sockets: enough to configure and link.
type quietPlugin struct{}

func (quietPlugin) Configure(context.Context, sdk.Config, *sdk.Portal) (sdk.Info, error) {
	return sdk.Info{ProtocolKey: "quiet"}, nil
}
func (quietPlugin) Shutdown(context.Context) error { return nil }

// validatingPlugin is quietPlugin with a Validate that knows one key,
// listen, and checks that its address is free.
type validatingPlugin struct{ quietPlugin }

func (validatingPlugin) Validate(_ context.Context, cfg sdk.Config) error {
	var c struct {
		Listen string `json:"listen"`
	}
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	return cfg.CheckListen("listen", c.Listen)
}

// serveTestPlugin serves quietPlugin with the versions mode names: "current"
// is what sdk.Serve serves; "v99" stands for a plugin built against a
// future SDK that dropped today's version; "currentAnd99" for one that
// still speaks it; "v1" for a plugin built against the SDK of contract
// version 1, before the bump to 2; "validating" serves validatingPlugin.
func serveTestPlugin(mode string) {
	var p sdk.Plugin = quietPlugin{}
	if mode == "validating" {
		p = validatingPlugin{}
	}
	srv := sdk.NewServer(p, slog.New(slog.DiscardHandler))
	sets := sdk.PluginSets(srv)
	switch mode {
	case "v99":
		sets = map[int]hplugin.PluginSet{99: {sdk.PluginName: &sdk.GRPCPlugin{Impl: srv}}}
	case "currentAnd99":
		sets[99] = hplugin.PluginSet{sdk.PluginName: &sdk.GRPCPlugin{Impl: srv}}
	case "v1":
		sets = map[int]hplugin.PluginSet{1: {sdk.PluginName: &sdk.GRPCPlugin{Impl: srv}}}
	}
	hplugin.Serve(&hplugin.ServeConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sets,
		GRPCServer:       hplugin.DefaultGRPCServer,
	})
}

// testRunner is a runner of this test binary as plugin name, on a manager
// with just enough to launch and reattach.
func testRunner(t *testing.T, mode string, mtls bool, sum []byte) *runner {
	t.Helper()
	t.Setenv(envTestPlugin, mode)
	dir := t.TempDir()
	cfg := &config.Config{Server: config.Server{DataDir: dir, PluginMTLS: mtls}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := NewManager(cfg, nil, nil, log, io.Discard)
	if err := os.MkdirAll(m.socketDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &runner{m: m, name: "quiet", path: exe, log: log,
		spec: config.Plugin{Name: "quiet", Enabled: true, SHA256: sum}}
}

// configure calls Configure, proving the link works end to end (over TLS
// when it is on).
func configure(portal portalpb.PortalClient) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := portal.Configure(ctx, &portalpb.ConfigureRequest{Host: &portalpb.HostInfo{SessidStart: 1, SessidCount: 10}})
	return err
}

// TestVersionMismatchIsClear: a plugin that speaks only a version the
// host does not is refused at launch with a message naming both versions
// and what to do; go-plugin's own wording (pinned here) is recognised.
func TestVersionMismatchIsClear(t *testing.T) {
	r := testRunner(t, "v99", false, nil)
	client, _, err := r.connect(nil)
	if err == nil {
		client.Kill()
		t.Fatal("a plugin speaking only version 99 was accepted")
	}
	var vm *sdk.VersionMismatchError
	if !errors.As(err, &vm) {
		t.Fatalf("not recognised as a version mismatch (go-plugin's wording changed?): %v", err)
	}
	want := "plugins: quiet: launch " + r.path + ": protocol version mismatch: host speaks 2, plugin speaks 99 — " +
		"the plugin was built against a newer SDK: upgrade the host, or rebuild the plugin against the host's SDK"
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error:\n%v\nwant it to start with:\n%s", err, want)
	}
}

// TestVersion1PluginIsRefused: a plugin built against the SDK of contract
// version 1 (before HostInfo.connection_queue_wait_ms and the other
// changes of version 2) is refused at launch, by a message naming both
// versions and telling to rebuild it; it never gets a Configure it would
// half understand.
func TestVersion1PluginIsRefused(t *testing.T) {
	if slices.Contains(sdk.SupportedProtocolVersions(), 1) {
		t.Fatalf("the SDK still speaks contract version 1: %v", sdk.SupportedProtocolVersions())
	}
	r := testRunner(t, "v1", false, nil)
	client, _, err := r.connect(nil)
	if err == nil {
		client.Kill()
		t.Fatal("a plugin speaking only version 1 was accepted")
	}
	var vm *sdk.VersionMismatchError
	if !errors.As(err, &vm) || vm.PluginVersion != 1 {
		t.Fatalf("not recognised as a version 1 plugin: %v", err)
	}
	want := "plugins: quiet: launch " + r.path + ": protocol version mismatch: host speaks 2, plugin speaks 1 — " +
		"rebuild the plugin against the host's SDK (github.com/portico-mud/portico/sdk)"
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error:\n%v\nwant it to start with:\n%s", err, want)
	}
}

// TestVersionsAgree: a plugin that speaks the host's version and a newer
// one is run with the version both speak.
func TestVersionsAgree(t *testing.T) {
	r := testRunner(t, "currentAnd99", false, nil)
	client, portal, err := r.connect(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Kill()
	if r.version != sdk.ProtocolVersion || client.NegotiatedVersion() != sdk.ProtocolVersion {
		t.Fatalf("negotiated %d (runner %d), want %d", client.NegotiatedVersion(), r.version, sdk.ProtocolVersion)
	}
	if err := configure(portal); err != nil {
		t.Fatal(err)
	}
}

// TestReattachRefusesUnknownVersion: a record naming a version this host
// does not speak is not reattached to.
func TestReattachRefusesUnknownVersion(t *testing.T) {
	r := testRunner(t, "current", false, nil)
	_, _, err := r.connect(&record{Name: "quiet", Pid: os.Getpid(), ProtocolVersion: 99, Network: "unix", Addr: "/nonexistent"})
	if err == nil || !strings.Contains(err.Error(), "protocol version mismatch: host speaks 2, plugin speaks 99") {
		t.Fatalf("err = %v", err)
	}
}

// TestChecksum: the configured SHA-256 lets the right binary run and
// refuses any other, naming both digests.
func TestChecksum(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	good := sha256.Sum256(b)
	r := testRunner(t, "current", false, good[:])
	client, portal, err := r.connect(nil)
	if err != nil {
		t.Fatalf("right checksum refused: %v", err)
	}
	if err := configure(portal); err != nil {
		t.Fatal(err)
	}
	client.Kill()

	bad := sha256.Sum256([]byte("another binary"))
	r = testRunner(t, "current", false, bad[:])
	client, _, err = r.connect(nil)
	if err == nil {
		client.Kill()
		t.Fatal("wrong checksum accepted")
	}
	for _, want := range []string{"checksum mismatch: plugins.quiet.sha256 is ", "but the binary's SHA-256 is ", "refusing to run it"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
	if !errors.Is(err, hplugin.ErrChecksumsDoNotMatch) {
		t.Fatalf("error does not wrap go-plugin's: %v", err)
	}
}

// TestAutoMTLSKeepsPair: a plugin launched with AutoMTLS can be reattached
// to by a host that kept the pair (a reload or a crash), and by no one
// else: not without TLS, not with another pair. The launching client is
// left alone while the others connect, as a host image that re-executed
// would leave it.
func TestAutoMTLSKeepsPair(t *testing.T) {
	r := testRunner(t, "current", true, nil)
	client, portal, err := r.connect(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Kill()
	if err := configure(portal); err != nil {
		t.Fatal(err)
	}
	kept := r.mtls.record(r.log)
	if kept == nil {
		t.Fatal("no key pair kept (go-plugin no longer fills in ClientConfig.TLSConfig?)")
	}
	rc := client.ReattachConfig()
	rec := &record{Name: "quiet", Pid: rc.Pid, Network: rc.Addr.Network(), Addr: rc.Addr.String(),
		ProtocolVersion: r.version, MTLS: kept}

	// Through the record file, as a new host image reads it.
	if err := r.m.writeRecord(*rec); err != nil {
		t.Fatal(err)
	}
	onDisk, err := r.m.readRecord("quiet")
	if err != nil {
		t.Fatal(err)
	}
	r2 := &runner{m: r.m, name: "quiet", path: r.path, log: r.log}
	c2, p2, err := r2.connect(onDisk)
	if err != nil {
		t.Fatal(err)
	}
	if err := configure(p2); err != nil {
		t.Fatalf("reattach with the kept pair: %v", err)
	}
	if got := r2.mtls.record(r.log); got == nil || *got != *kept {
		t.Fatal("the reattached run does not keep the pair for the next record")
	}
	// Every client is killed at the end, when no later step needs the
	// plugin any more: a client left alive keeps its gRPC connection (and
	// its goroutines) after the test.
	defer c2.Kill()

	plain := *rec
	plain.MTLS = nil
	r3 := &runner{m: r.m, name: "quiet", path: r.path, log: r.log}
	if c3, p3, err := r3.connect(&plain); err == nil {
		defer c3.Kill()
		if err := configure(p3); err == nil {
			t.Fatal("reattached without TLS to a plugin launched with AutoMTLS")
		} else {
			t.Logf("without TLS: %v", err)
		}
	}

	// Another host's pair: launch a second plugin and present its pair.
	other := testRunner(t, "current", true, nil)
	oc, op, err := other.connect(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Kill()
	if err := configure(op); err != nil {
		t.Fatal(err)
	}
	stranger := *rec
	otherPair := other.mtls.record(r.log)
	stranger.MTLS = &mtlsRecord{ClientCert: otherPair.ClientCert, ClientKey: otherPair.ClientKey, ServerCert: kept.ServerCert}
	r4 := &runner{m: r.m, name: "quiet", path: r.path, log: r.log}
	if c4, p4, err := r4.connect(&stranger); err == nil {
		defer c4.Kill()
		if err := configure(p4); err == nil {
			t.Fatal("reattached with a pair the plugin was not launched with")
		} else {
			t.Logf("with another pair: %v", err)
		}
	}

	// The record is only readable by the host.
	info, err := os.Stat(filepath.Join(r.m.recordDir(), "quiet.json"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("record with a private key has mode %v", info.Mode().Perm())
	}
}
