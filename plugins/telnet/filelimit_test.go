package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// TestRefusedAtFileLimit: at the open-file limit each client is told the
// server is full and closed, instead of waiting in the kernel's queue
// while the accept loop fails ten times a second, and the limit is logged
// once.
func TestRefusedAtFileLimit(t *testing.T) {
	plugintest.RefusedAtFileLimit(t, sdk.RefusalLine, func(log *slog.Logger) (string, func()) {
		p := &Plugin{}
		info, err := p.Configure(context.Background(), sdk.Config{Raw: map[string]any{"listen": "127.0.0.1:0"}},
			sdk.NewTestPortal(log))
		if err != nil {
			return err.Error(), func() {}
		}
		return info.Listeners[0].Address, func() { _ = p.Shutdown(context.Background()) }
	})
}
