package main

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// TestRefusedAtFileLimit: at the open-file limit each client gets a line
// saying the server is full (before any version exchange) and is closed,
// instead of waiting in the kernel's queue, and the limit is logged once.
func TestRefusedAtFileLimit(t *testing.T) {
	plugintest.RefusedAtFileLimit(t, sdk.RefusalLine, func(log *slog.Logger) (string, func()) {
		dir, err := os.MkdirTemp("", "ssh-filelimit")
		if err != nil {
			return err.Error(), func() {}
		}
		p := &Plugin{}
		info, err := p.Configure(context.Background(), sdk.Config{Raw: map[string]any{"listen": "127.0.0.1:0"},
			Host: sdk.HostInfo{DataDir: dir}}, sdk.NewTestPortal(log))
		if err != nil {
			os.RemoveAll(dir)
			return err.Error(), func() {}
		}
		return info.Listeners[0].Address, func() {
			_ = p.Shutdown(context.Background())
			os.RemoveAll(dir)
		}
	})
}
