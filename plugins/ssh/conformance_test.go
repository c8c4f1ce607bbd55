package main

import (
	"testing"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest"
	gossh "golang.org/x/crypto/ssh"
)

// dialConformance is the conformance kit's client: an SSH client with a
// terminal, as a player's would be. It offers an empty password, so its
// sessions arrive without credentials and the kit sees plain Connects.
func dialConformance(addr string) (plugintest.Client, error) {
	return dialClient(addr, clientConfig("player", gossh.Password("")), xterm, "")
}

// suite describes the SSH plugin to the conformance kit.
func suite() plugintest.Suite {
	return plugintest.Suite{
		Config:      func(addr string) map[string]any { return map[string]any{"listen": addr} },
		Dial:        dialConformance,
		ProtocolKey: ProtocolKey,
		BadConfig:   map[string]any{"listen": "127.0.0.1:0", "lisen": "typo"},
	}
}

// TestConformance runs the kit against the plugin in this process, where
// the race detector sees it, and against portico-ssh launched through
// go-plugin, as the host launches it.
func TestConformance(t *testing.T) {
	s := suite()
	s.New = func() sdk.Plugin { return &Plugin{} }
	plugintest.RunBoth(t, s, ".", "ssh")
}
