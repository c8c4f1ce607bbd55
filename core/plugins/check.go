package plugins

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/portico-mud/portico/core/config"
)

// Check checks every enabled plugin of cfg before it is started, each
// through its own binary: the binary is a file the host can execute, with
// the SHA-256 that plugins.<name>.sha256 asks for, and the plugin, launched
// for the check alone (a few tens of milliseconds), finds nothing wrong
// with its config block (Validate: unknown keys, bad values, an address in
// use). The plugins are checked at once, side by side. Remote plugins
// (remote: true) are not: the host has no binary of theirs. An address that a
// plugin process still running from this data directory holds (its record
// says so: a host that died, or the running host when `portico config
// check` runs beside it) is not counted as taken. A plugin whose SDK has
// no Validate passes here: starting it checks its block.
//
// Its error is a config.Problems, one per problem, each located where the
// key's value came from: `config.yaml:9: plugins.telnet.config: unknown
// key "lisen" (did you mean "listen"?)`.
func Check(cfg *config.Config) error {
	var plugins []config.Plugin
	for _, p := range cfg.EnabledPlugins() {
		// A remote plugin's binary is on its own machine, and the host
		// launches nothing to ask: it gets its block in Configure when
		// it dials in.
		if !p.Remote {
			plugins = append(plugins, p)
		}
	}
	results := make([]checked, len(plugins))
	var wg sync.WaitGroup
	for i, p := range plugins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = checkPlugin(context.Background(), cfg, p, heldByRecord(cfg, p.Name))
		}()
	}
	wg.Wait()
	var ps config.Problems
	for _, r := range results {
		ps = append(ps, r.problems...)
	}
	if len(ps) == 0 {
		return nil
	}
	ps.Sort()
	return ps
}

// heldByRecord returns the addresses the plugin process of name's record
// listens on, when that process is still alive.
func heldByRecord(cfg *config.Config, name string) []string {
	b, err := os.ReadFile(filepath.Join(cfg.RunDir(), "records", name+".json"))
	if err != nil {
		return nil
	}
	var rec record
	if json.Unmarshal(b, &rec) != nil || !isSameProcess(&rec) {
		return nil
	}
	return rec.Listen
}

// checkBinary returns what is wrong with plugin p's binary, if anything.
func checkBinary(cfg *config.Config, p config.Plugin) (config.Problem, bool) {
	key := "plugins." + p.Name + ".path"
	path, err := cfg.PluginPath(p)
	if err != nil {
		return cfg.Problem(key, err.Error()), true
	}
	return checkBinaryAt(cfg, p, path)
}

// checkBinaryAt is checkBinary of the binary at path.
func checkBinaryAt(cfg *config.Config, p config.Plugin, path string) (config.Problem, bool) {
	key := "plugins." + p.Name + ".path"
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return cfg.Problem(key, path+": no such file"), true
	case err != nil:
		return cfg.Problem(key, err.Error()), true
	case fi.IsDir():
		return cfg.Problem(key, path+": is a directory"), true
	case fi.Mode().Perm()&0o111 == 0:
		return cfg.Problem(key, path+": not executable"), true
	}
	if len(p.SHA256) == 0 {
		return config.Problem{}, false
	}
	f, err := os.Open(path)
	if err != nil {
		return cfg.Problem(key, err.Error()), true
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return cfg.Problem(key, fmt.Sprintf("%s: %v", path, err)), true
	}
	if got := h.Sum(nil); !bytes.Equal(got, p.SHA256) {
		return cfg.Problem("plugins."+p.Name+".sha256",
			fmt.Sprintf("%s has SHA-256 %x, want %x: the host would refuse to launch it", path, got, []byte(p.SHA256))), true
	}
	return config.Problem{}, false
}
