package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// TestRefusedAtFileLimit: at the open-file limit each browser gets an
// HTTP 503 saying the server is full and the connection closed, instead of
// waiting in the kernel's queue while http.Server logs a retry every few
// milliseconds, and the limit is logged once.
func TestRefusedAtFileLimit(t *testing.T) {
	plugintest.RefusedAtFileLimit(t, sdk.RefusalHTTP, func(log *slog.Logger) (string, func()) {
		p := &Plugin{}
		info, err := p.Configure(context.Background(), sdk.Config{Raw: map[string]any{"listen": "127.0.0.1:0"}},
			sdk.NewTestPortal(log))
		if err != nil {
			return err.Error(), func() {}
		}
		addr := strings.TrimPrefix(strings.TrimSuffix(info.Listeners[0].URL, "/"), "http://")
		return addr, func() { _ = p.Shutdown(context.Background()) }
	})
}
