package plugins

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/portico-mud/portico/core/config"
)

// Check checks every enabled plugin of cfg without starting it: its binary
// is a file the host can execute, with the SHA-256 that plugins.<name>.sha256
// asks for. Its error is a config.Problems, one per problem, each located
// where the key's value came from. (A plugin's own check of its config
// block, through the plugin, belongs here too.)
func Check(cfg *config.Config) error {
	var ps config.Problems
	for _, p := range cfg.EnabledPlugins() {
		if pr, bad := checkBinary(cfg, p); bad {
			ps = append(ps, pr)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	ps.Sort()
	return ps
}

// checkBinary returns what is wrong with plugin p's binary, if anything.
func checkBinary(cfg *config.Config, p config.Plugin) (config.Problem, bool) {
	key := "plugins." + p.Name + ".path"
	path, err := cfg.PluginPath(p)
	if err != nil {
		return cfg.Problem(key, err.Error()), true
	}
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
