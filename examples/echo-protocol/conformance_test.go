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

// TestConformance runs the kit against the plugin served in this process,
// where the race detector sees it.
func TestConformance(t *testing.T) {
	s := suite()
	s.New = func() sdk.Plugin { return &Plugin{} }
	plugintest.Run(t, s)
}

// TestConformanceBinary runs the kit against the built binary, launched
// through go-plugin as the Portico host launches it.
func TestConformanceBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin")
	}
	s := suite()
	s.Binary = plugintest.Build(t, ".", "echo")
	plugintest.Run(t, s)
}
