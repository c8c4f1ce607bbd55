// Command portico-discord is Portico's Discord bridge bot plugin: it
// connects bots to Discord's gateway and relays between Discord channels
// and a game channel (Evennia's DiscordBot). The host launches it and
// starts each bot with its config dict (start_bot_session); it is not run
// by hand.
//
// The plugin owns its Discord connections and never imports the host
// (core): all it knows of the game is what arrives through its bot
// sessions. A bot's token is read here, from a file or an environment
// variable the config names; it never crosses the plugin link.
package main

import "github.com/portico-mud/portico/sdk"

func main() {
	sdk.Serve(&Plugin{})
}
