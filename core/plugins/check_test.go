package plugins

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/config"
)

// TestCheckBinaries: Check names each enabled plugin whose binary the host
// could not launch, at the line of its key, and passes the others and the
// disabled ones.
func TestCheckBinaries(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	body := []byte("#!/bin/sh\nexit 0\n")
	for path, mode := range map[string]os.FileMode{good: 0o755, filepath.Join(dir, "plain"): 0o644} {
		if err := os.WriteFile(path, body, mode); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256(body)
	cfgPath := filepath.Join(dir, "config.yaml")
	yaml := fmt.Sprintf(`plugins:
  good:
    enabled: true
    path: good
    sha256: "%x"
  plain:
    enabled: true
    path: plain
  folder:
    enabled: true
    path: .
  gone:
    enabled: true
    path: nothere
  off:
    enabled: false
    path: nothere
  forged:
    enabled: true
    path: good
    sha256: "%s"
`, sum, strings.Repeat("0", 64))
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	err = Check(cfg)
	want := []string{
		fmt.Sprintf("%s:8: plugins.plain.path: %s: not executable", cfgPath, filepath.Join(dir, "plain")),
		fmt.Sprintf("%s:11: plugins.folder.path: %s: is a directory", cfgPath, dir),
		fmt.Sprintf("%s:14: plugins.gone.path: %s: no such file", cfgPath, filepath.Join(dir, "nothere")),
		fmt.Sprintf("%s:21: plugins.forged.sha256: %s has SHA-256 %x, want %s: the host would refuse to launch it",
			cfgPath, good, sum, strings.Repeat("0", 64)),
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("Check:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}
