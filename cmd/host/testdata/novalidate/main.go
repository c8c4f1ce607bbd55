// Command novalidate stands for a plugin built against an SDK from before
// the contract's Validate (or one that does not implement sdk.Validator):
// the host cannot check its block without starting it. It listens on its
// listen key and serves nobody. The end-to-end tests build and launch it.
package main

import (
	"context"
	"fmt"
	"net"

	"github.com/portico-mud/portico/sdk"
)

type plugin struct{ ln net.Listener }

func (p *plugin) Configure(_ context.Context, cfg sdk.Config, _ *sdk.Portal) (sdk.Info, error) {
	var c struct {
		Listen string `json:"listen"`
	}
	if err := cfg.Decode(&c); err != nil {
		return sdk.Info{}, fmt.Errorf("novalidate: %w", err)
	}
	ln, err := sdk.Listen("listen", c.Listen)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("novalidate: %w", err)
	}
	p.ln = ln
	return sdk.Info{ProtocolKey: "novalidate", Listeners: []sdk.Listener{sdk.ListenerOf("novalidate", ln)}}, nil
}

func (p *plugin) Shutdown(context.Context) error { return p.ln.Close() }

func main() { sdk.Serve(&plugin{}) }
