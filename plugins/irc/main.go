// Command portico-irc is Portico's IRC bridge bot plugin: it connects bots
// to IRC networks and relays between an IRC channel and a game channel
// (Evennia's IRCBot). The host launches it and starts each bot with its
// config dict (start_bot_session); it is not run by hand.
//
// The plugin owns its IRC sockets and never imports the host (core): all
// it knows of the game is what arrives through its bot sessions.
package main

import "github.com/portico-mud/portico/sdk"

func main() {
	sdk.Serve(&Plugin{})
}
