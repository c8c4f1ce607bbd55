package main

import (
	"testing"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// conformanceSuite describes the telnet plugin to the SDK's conformance
// kit. A raw TCP client is enough: telnet negotiation does not hold back
// the session's Connect, and the substrings the kit looks for arrive
// between the negotiation bytes, not inside them.
func conformanceSuite() plugintest.Suite {
	return plugintest.Suite{
		Config:      func(addr string) map[string]any { return map[string]any{"listen": addr} },
		Dial:        plugintest.DialTCP,
		ProtocolKey: ProtocolKey,
		BadConfig:   map[string]any{"listen": "no port here"},
	}
}

// TestConformance runs the kit against the plugin in this process, where
// the race detector sees it, and against portico-telnet launched through
// go-plugin, as the host launches it.
func TestConformance(t *testing.T) {
	s := conformanceSuite()
	s.New = func() sdk.Plugin { return &Plugin{} }
	plugintest.RunBoth(t, s, ".", "telnet")
}
