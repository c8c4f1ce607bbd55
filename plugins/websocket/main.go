// Command portico-websocket is Portico's websocket protocol plugin: it
// serves the browser webclient and carries websocket sessions (Evennia's
// v1.evennia.com format and the MUD Standards subprotocols) to the Portico
// host. The host launches it; it is not run by hand.
//
// The plugin imports the SDK and never the host. Everything it serves is
// embedded in the binary; nothing is fetched at run time.
package main

import "github.com/portico-mud/portico/sdk"

func main() {
	sdk.Serve(&Plugin{})
}
