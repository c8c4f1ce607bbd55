package main

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// TestRefusedAtFileLimit runs the plugin in a helper process whose
// open-file limit is used up: each client gets a line saying the server is
// full (before any version exchange) and is closed, instead of waiting in
// the kernel's queue, and the limit is logged once.
func TestRefusedAtFileLimit(t *testing.T) {
	if plugintest.FileLimitHelper(func() (string, func()) {
		dir, err := os.MkdirTemp("", "ssh-filelimit")
		if err != nil {
			return err.Error(), func() {}
		}
		portal := sdk.NewTestPortal(slog.New(slog.NewTextHandler(os.Stderr, nil)))
		p := &Plugin{}
		info, err := p.Configure(context.Background(), sdk.Config{Raw: map[string]any{"listen": "127.0.0.1:0"},
			Host: sdk.HostInfo{DataDir: dir}}, portal)
		if err != nil {
			os.RemoveAll(dir)
			return err.Error(), func() {}
		}
		return info.Listeners[0].Address, func() {
			_ = p.Shutdown(context.Background())
			os.RemoveAll(dir)
		}
	}) {
		return
	}
	log := plugintest.DialAtFileLimit(t, 10, sdk.RefusalLine)
	if n := strings.Count(log, "open-file limit"); n != 1 {
		t.Fatalf("the limit was logged %d times for 10 refused clients, want once:\n%s", n, log)
	}
}
