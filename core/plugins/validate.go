package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/launch"
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
	if p.Remote {
		// Nothing here to launch: it is checked when it connects.
		return checked{}
	}
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
	// No data directory: a plugin checked, not run, writes no log file
	// there (its stderr is kept for the error, below). The socket goes in
	// sockDir, never group-writable (launch.Environ).
	cc := launchConfig(cfg, p, path, launch.Env{PluginName: p.Name, SocketDir: sockDir})
	// TempDir alone is not honoured without a RunnerFunc (launch.Environ
	// names the directory to the plugin instead).
	cc.UnixSocketConfig = &hplugin.UnixSocketConfig{TempDir: sockDir}
	cc.Stderr = stderr
	// go-plugin's own lines (the process exiting, a kill) say nothing
	// the check's result does not.
	cc.Logger = hclog.NewNullLogger()
	cc.StartTimeout = validateTimeout
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
	portal, err := launch.Dispense(rpc)
	if err != nil {
		return launchFailed(err)
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
