// Command tiny-game is a small game built on Portico's public host API
// (core/host) and nothing else: rooms with exits, movement, look, say and
// emote heard only in the room, characters that stay where they were
// across a logout, and GMCP Room.Info for Mudlet-style mappers. Rooms and
// positions live in the host's attribute store.
//
// It is the tutorial of README.md: build it, and run it with the in-tree
// protocol plugins (make tiny-game from the repository root).
package main

import "github.com/portico-mud/portico/core/host"

func main() { host.Main(newGame().options()...) }
