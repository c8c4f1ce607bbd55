package main

import (
	"testing"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// suite describes the echo plugin to the conformance kit.
func suite() plugintest.Suite {
	return plugintest.Suite{
		Config:      func(addr string) map[string]any { return map[string]any{"listen": addr} },
		Dial:        plugintest.DialTCP,
		ProtocolKey: "echo",
		BadConfig:   map[string]any{"listen": "127.0.0.1:0", "lisen": "typo"},
	}
}

// TestConformance runs the kit against the plugin in this process, where
// the race detector sees it, and against its built binary launched through
// go-plugin, as the host launches it.
func TestConformance(t *testing.T) {
	s := suite()
	s.New = func() sdk.Plugin { return &Plugin{} }
	plugintest.RunBoth(t, s, ".", "echo")
}
