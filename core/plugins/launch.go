package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/launch"
	"github.com/portico-mud/portico/sdk/logging"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// Launching a plugin process through go-plugin, or reattaching to one a
// previous host image left running, and saying in words why a launch
// failed.

// clientConfig is how go-plugin reaches the plugin: a reattach to the
// process rec names, or a launch of the binary.
func (r *runner) clientConfig(rec *record) (*hplugin.ClientConfig, error) {
	cfg := r.m.config()
	if rec == nil {
		cc := launchConfig(cfg, r.spec, r.path, launch.Env{DataDir: cfg.Server.DataDir, PluginName: r.name, SocketDir: r.m.socketDir(),
			Log: cfg.Log.Options().Encode()})
		cc.Logger = r.pluginLogger()
		return cc, nil
	}
	// The record keeps the version the process was launched with, which
	// go-plugin itself does not keep (launch.Reattach).
	cc := launch.Reattach(&hplugin.ReattachConfig{Protocol: hplugin.ProtocolGRPC, ProtocolVersion: rec.ProtocolVersion,
		Addr: &unixAddr{network: rec.Network, addr: rec.Addr}, Pid: rec.Pid})
	cc.Logger = r.pluginLogger()
	// A plugin launched with AutoMTLS trusts only the client
	// certificate it was launched with: present the kept pair again.
	// (go-plugin's AutoMTLS applies to launches only.)
	if rec.MTLS != nil {
		tc, err := rec.MTLS.tlsConfig()
		if err != nil {
			return nil, fmt.Errorf("plugins: %s: reattach to pid %d: %w", r.name, rec.Pid, err)
		}
		cc.TLSConfig = tc
	}
	if (rec.MTLS != nil) != cfg.Server.PluginMTLS {
		r.log.Info("server.plugin_mtls changed; it applies when the plugin is next launched",
			"plugin_mtls", cfg.Server.PluginMTLS, "link_mtls", rec.MTLS != nil)
	}
	return cc, nil
}

// launchConfig is go-plugin's config for launching plugin p's binary at
// path, as the host launches every plugin (a run, or a check of its
// config): every contract version the host speaks is offered, and
// go-plugin agrees on the newest one the plugin also speaks, or fails (see
// runner.launchError); the binary is checked against the checksum p asks
// for; the link runs AutoMTLS when server.plugin_mtls says so.
func launchConfig(cfg *config.Config, p config.Plugin, path string, env launch.Env) *hplugin.ClientConfig {
	cmd := exec.Command(path)
	cmd.Env = launch.Environ(os.Environ(), env)
	cc := launch.Config(cmd, sdk.SupportedProtocolVersions())
	if len(p.SHA256) > 0 {
		// Checked by go-plugin just before it starts the binary. It cannot
		// be combined with a reattach, which is to a process checked when
		// it was launched.
		cc.SecureConfig = &hplugin.SecureConfig{Checksum: p.SHA256, Hash: sha256.New()}
	}
	cc.AutoMTLS = cfg.Server.PluginMTLS
	return cc
}

// unixAddr is a net.Addr from a record.
type unixAddr struct{ network, addr string }

func (a *unixAddr) Network() string { return a.network }

func (a *unixAddr) String() string { return a.addr }

// connect returns a portal client of a reattached or newly launched
// plugin. It sets r.version and r.mtls for the run's record.
func (r *runner) connect(rec *record) (*hplugin.Client, portalpb.PortalClient, error) {
	if rec != nil && !slices.Contains(sdk.SupportedProtocolVersions(), rec.ProtocolVersion) {
		// A host upgraded by a reload that no longer speaks the version the
		// plugin was launched with: start the plugin afresh instead.
		return nil, nil, fmt.Errorf("plugins: %s: reattach to pid %d: %w", r.name, rec.Pid,
			&sdk.VersionMismatchError{HostVersions: sdk.SupportedProtocolVersions(), PluginVersion: rec.ProtocolVersion})
	}
	if rec == nil {
		// A binary that is not there (or not the one wanted) is said so
		// plainly, without a launch that could only fail.
		// The digest is go-plugin's to check (launchError explains it).
		noDigest := r.spec
		noDigest.SHA256 = nil
		if pr, bad := checkBinaryAt(r.m.config(), noDigest, r.path); bad {
			return nil, nil, fmt.Errorf("plugins: %s: %s: %s", r.name, pr.Key, pr.Msg)
		}
	}
	cc, err := r.clientConfig(rec)
	if err != nil {
		return nil, nil, err
	}
	stderr := &tailWriter{}
	cc.Stderr = stderr
	client := hplugin.NewClient(cc)
	fail := func(err error) (*hplugin.Client, portalpb.PortalClient, error) {
		if rec != nil {
			r.m.killClient(client)
			return nil, nil, fmt.Errorf("plugins: %s: reattach to pid %d: %w", r.name, rec.Pid, err)
		}
		// go-plugin's Kill of a process that already ended would log that
		// it "failed to exit gracefully": not so. Kill also waits until
		// the plugin's stderr is read to its end, for the error.
		r.quietKill.Store(endedOnItsOwn(r.launchError(err, "")))
		r.m.killClient(client)
		r.quietKill.Store(false)
		return nil, nil, fmt.Errorf("plugins: %s: launch %s: %w", r.name, r.path, r.launchError(err, stderr.tail()))
	}
	var keep *linkTLS
	switch {
	case rec != nil && rec.MTLS != nil:
		keep = rec.MTLS.keeper()
	case rec == nil && cc.AutoMTLS:
		// Start (the handshake) before Client (the dial), so that the key
		// pair go-plugin generated can be kept and the plugin's
		// certificate caught on the first TLS handshake.
		if _, err := client.Start(); err != nil {
			return fail(err)
		}
		if keep, err = keepAutoMTLS(cc); err != nil {
			// The link is still mutually authenticated; only a reattach
			// to this process will be impossible (a reload restarts it).
			r.log.Error("plugin_mtls: cannot keep the link's key pair; a host reload will restart this plugin", "err", err)
		}
	}
	rpc, err := client.Client()
	if err != nil {
		return fail(err)
	}
	portal, err := launch.Dispense(rpc)
	if err != nil {
		r.m.killClient(client)
		return nil, nil, fmt.Errorf("plugins: %s: %w", r.name, err)
	}
	version := client.NegotiatedVersion()
	if rec != nil {
		// go-plugin leaves the negotiated version at 0 on a reattach.
		version = rec.ProtocolVersion
	}
	r.mu.Lock()
	r.version, r.mtls = version, keep
	r.mu.Unlock()
	return client, portal, nil
}

// launchError makes go-plugin's launch failures say what to do: a plugin
// built against an SDK that shares no contract version with the host, and
// a binary whose checksum is not the configured one.
func (r *runner) launchError(err error, stderr string) error {
	if errors.Is(err, hplugin.ErrChecksumsDoNotMatch) {
		got := "unreadable"
		if b, rerr := os.ReadFile(r.path); rerr == nil {
			sum := sha256.Sum256(b)
			got = hex.EncodeToString(sum[:])
		}
		return fmt.Errorf("checksum mismatch: plugins.%s.sha256 is %x but the binary's SHA-256 is %s; refusing to run it: %w",
			r.name, r.spec.SHA256, got, err)
	}
	if mm := sdk.DetectVersionMismatch(err, sdk.SupportedProtocolVersions()); mm != err {
		return mm
	}
	return explainLaunch(err, stderr)
}

// pluginLogger is go-plugin's logger for one plugin, writing to the host's
// log in its one format (sdk/logging). It leaves out what would repeat or
// mislead: the exit of a plugin that dies again after a first failure
// (reported once, by supervise), and "failed to exit gracefully" for a
// process that had already ended by itself before its handshake.
func (r *runner) pluginLogger() hclog.Logger {
	return logging.HCLog(r.m.log.With("plugin", r.name), "go-plugin", logging.HCLogOptions{
		Exclude: func(_ hclog.Level, msg string) bool {
			switch msg {
			case "plugin failed to exit gracefully":
				return r.quietKill.Load()
			case "plugin process exited":
				return r.quietRepeat.Load()
			}
			return false
		}})
}

// explainLaunch says what a failed launch means in words a user can act
// on: go-plugin reports a plugin that exited before its handshake as a
// message about architectures and stdout. stderr is the end of what the
// plugin wrote there, which usually says why.
func explainLaunch(err error, stderr string) error {
	msg := err.Error()
	var why string
	switch {
	case msg == "plugin exited before we could connect", strings.Contains(msg, "Failed to read any lines from plugin's stdout"):
		why = "exited before the plugin handshake (is it a Portico plugin, built with sdk.Serve?)"
	case strings.HasPrefix(msg, "Unrecognized remote plugin message: "):
		line, _, _ := strings.Cut(strings.TrimPrefix(msg, "Unrecognized remote plugin message: "), "\n")
		why = fmt.Sprintf("printed %q instead of the plugin handshake (not a Portico plugin?)", line)
	case msg == "timeout while waiting for plugin to start":
		why = "did not answer the plugin handshake in time"
	default:
		// A refusal of go-plugin's own (a version mismatch, a checksum)
		// says all there is; the plugin's stderr holds only its handshake.
		return err
	}
	if stderr != "" {
		why += "; its stderr: " + stderr
	}
	return &launchError{why: why, err: err}
}

// launchError is a launch failure said in words, wrapping go-plugin's.
type launchError struct {
	why string
	err error
}

func (e *launchError) Error() string { return e.why }

func (e *launchError) Unwrap() error { return e.err }

// endedOnItsOwn reports whether a launch failed because the process ended
// by itself (not a hang that the host ends).
func endedOnItsOwn(err error) bool {
	var le *launchError
	return errors.As(err, &le) && !strings.HasPrefix(le.why, "did not answer")
}

// tailWriter keeps the last lines a plugin wrote to its stderr.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

// tailBytes bounds what tailWriter keeps.
const tailBytes = 2048

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > tailBytes {
		w.buf = append([]byte(nil), w.buf[len(w.buf)-tailBytes:]...)
	}
	return len(p), nil
}

// tail returns the last (at most three) non-empty lines, joined.
func (w *tailWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var lines []string
	for l := range strings.SplitSeq(string(w.buf), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " / ")
}
