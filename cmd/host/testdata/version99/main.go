// Command version99 stands for a plugin built against a future SDK whose
// portal contract is version 99 only: it serves the portal service with
// the usual handshake but offers no version this host speaks, so the host
// must refuse it by name. The end-to-end tests build and launch it.
package main

import (
	"context"
	"log/slog"
	"os"

	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/sdk"
)

type plugin struct{}

func (plugin) Configure(context.Context, sdk.Config, *sdk.Portal) (sdk.Info, error) {
	return sdk.Info{ProtocolKey: "future"}, nil
}

func (plugin) Shutdown(context.Context) error { return nil }

func main() {
	srv := sdk.NewServer(plugin{}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	hplugin.Serve(&hplugin.ServeConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: map[int]hplugin.PluginSet{99: {sdk.PluginName: &sdk.GRPCPlugin{Impl: srv}}},
		GRPCServer:       hplugin.DefaultGRPCServer,
	})
}
