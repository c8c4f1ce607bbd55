// Command portico is the stock Portico game: the host with its default
// commands (connect, create, look, say, who, channels, characters, the
// admin commands), built on the same public API as any game (core/host).
// It runs the game side (sessions, accounts, commands) and launches the
// protocol plugins that config.yaml enables.
package main

import "github.com/portico-mud/portico/core/host"

func main() { host.Main(stockGame()...) }
