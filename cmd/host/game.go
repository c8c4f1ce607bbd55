package main

import "github.com/portico-mud/portico/core/host"

// stockGame is what the stock game adds to the host's defaults, through
// the same options any game has. Today it is the defaults themselves: the
// default commands, and the default inputfuncs, which keep a player's
// webclient options on the account in the attribute store (core/attrs), as
// Evennia keeps _saved_webclient_options. A game that wants more starts
// from examples/tiny-game.
func stockGame() []host.Option { return nil }
