package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// validateTimeout bounds one plugin's check through the plugin: its launch,
// the handshake, Validate and its exit. A Go plugin takes a few tens of
// milliseconds for all of it.
const validateTimeout = 10 * time.Second

// checked is what checking one plugin found.
type checked struct {
	problems config.Problems
	// unchecked is set when the plugin has no Validate (an SDK from before
	// contract version 2's Validate, or a plugin without sdk.Validator):
	// only starting it checks its block.
	unchecked bool
}

// checkPlugin checks plugin p of cfg before it is started: its binary
// (checkBinary), then its config block through the plugin itself,
// launched through go-plugin for that alone — never configured, so it
// listens on nothing and exits when the check is done. held are the
// addresses a running process of the plugin already listens on (a live
// edit, or a process left by a host that died): Validate does not count
// them as taken.
func checkPlugin(ctx context.Context, cfg *config.Config, p config.Plugin, held []string) checked {
	if pr, bad := checkBinary(cfg, p); bad {
		return checked{problems: config.Problems{pr}}
	}
	path, _ := cfg.PluginPath(p) // checkBinary found it
	ctx, cancel := context.WithTimeout(ctx, validateTimeout)
	defer cancel()
	// A directory of the check's own for the plugin's socket, 0700 like
	// the host's: the data directory may not exist yet (config check).
	sockDir, err := os.MkdirTemp("", "portico-check-")
	if err != nil {
		return checked{problems: config.Problems{cfg.Problem("plugins."+p.Name+".path", "check: "+err.Error())}}
	}
	defer os.RemoveAll(sockDir)
	stderr := &tailWriter{}
	cmd := exec.Command(path)
	// No data directory: a plugin checked, not run, writes no log file
	// there (its stderr is kept for the error, below).
	// The socket goes in sockDir through go-plugin's variable (TempDir
	// below alone is not honoured without a RunnerFunc; see
	// runner.clientConfig), never group-writable.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, hplugin.EnvUnixSocketDir+"=") || strings.HasPrefix(kv, hplugin.EnvUnixSocketGroup+"=")
	})
	cmd.Env = append(env, sdk.EnvPluginName+"="+p.Name, hplugin.EnvUnixSocketDir+"="+sockDir)
	cc := &hplugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.PluginSets(nil),
		AllowedProtocols: []hplugin.Protocol{hplugin.ProtocolGRPC},
		Cmd:              cmd,
		UnixSocketConfig: &hplugin.UnixSocketConfig{TempDir: sockDir},
		AutoMTLS:         cfg.Server.PluginMTLS,
		Stderr:           stderr,
		// go-plugin's own lines (the process exiting, a kill) say nothing
		// the check's result does not.
		Logger:          hclog.NewNullLogger(),
		GRPCDialOptions: wire.DialOptions(),
		StartTimeout:    validateTimeout,
	}
	if len(p.SHA256) > 0 {
		cc.SecureConfig = &hplugin.SecureConfig{Checksum: p.SHA256, Hash: sha256.New()}
	}
	client := hplugin.NewClient(cc)
	// Kill ends the process (its Shutdown through go-plugin's controller)
	// and waits for it: nothing of the check is left running.
	defer client.Kill()
	launchFailed := func(err error) checked {
		// Kill waits until the plugin's stderr is read to its end.
		client.Kill()
		return checked{problems: config.Problems{cfg.Problem("plugins."+p.Name+".path",
			fmt.Sprintf("%s: %v", path, explainLaunch(sdk.DetectVersionMismatch(err, sdk.SupportedProtocolVersions()), stderr.tail())))}}
	}
	rpc, err := client.Client()
	if err != nil {
		return launchFailed(err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		return launchFailed(err)
	}
	portal, ok := raw.(portalpb.PortalClient)
	if !ok {
		return launchFailed(fmt.Errorf("dispensed %T, not a portal client", raw))
	}
	return validateWith(ctx, portal, cfg, p, held)
}

// validateWith calls Validate on portal (a plugin process launched for the
// check, or the running plugin before a live edit) with p's block.
func validateWith(ctx context.Context, portal portalpb.PortalClient, cfg *config.Config, p config.Plugin, held []string) checked {
	block, err := json.Marshal(p.Config)
	if err != nil {
		return checked{problems: config.Problems{cfg.Problem("plugins."+p.Name+".config", err.Error())}}
	}
	ctx, cancel := context.WithTimeout(ctx, validateTimeout)
	defer cancel()
	resp, err := portal.Validate(ctx, &portalpb.ValidateRequest{ConfigJson: block, Host: hostFacts(cfg), HeldAddresses: held})
	if status.Code(err) == codes.Unimplemented {
		return checked{unchecked: true}
	}
	if err != nil {
		return checked{problems: config.Problems{cfg.Problem("plugins."+p.Name+".config",
			"the plugin could not check it: "+status.Convert(err).Message())}}
	}
	var out checked
	for _, pr := range resp.GetProblems() {
		out.problems = append(out.problems, configProblem(cfg, p.Name, pr))
	}
	return out
}

// configProblem places a plugin's problem with its block in config.yaml:
// plugins.<name>.config.<key>, located at the key's line (an unknown
// key's own line).
func configProblem(cfg *config.Config, plugin string, pr *portalpb.ConfigProblem) config.Problem {
	key := "plugins." + plugin + ".config"
	if pr.GetKey() != "" {
		key += "." + pr.GetKey()
	}
	at := key
	if u := pr.GetUnknownKey(); u != "" {
		at = "plugins." + plugin + ".config." + u
	}
	return cfg.ProblemAt(at, key, pr.GetMessage())
}

// hostFacts is what the host tells a plugin about itself, without session
// ids: what Validate gets, what Configure gets beside a block of ids, and
// what a live edit of a host key sends to running plugins.
func hostFacts(cfg *config.Config) *portalpb.HostInfo {
	h := &portalpb.HostInfo{ServerName: cfg.Server.Name, DataDir: cfg.Server.DataDir, Version: Version,
		ReattachGraceMs: cfg.Server.ReattachGrace.Milliseconds()}
	wire.LimitsToPB(cfg.Limits, h)
	return h
}

// sameHostFacts reports whether two configs tell plugins the same.
func sameHostFacts(a, b *config.Config) bool { return proto.Equal(hostFacts(a), hostFacts(b)) }

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
