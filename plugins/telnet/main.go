// Command portico-telnet is Portico's telnet protocol plugin: it listens for
// telnet clients (MUD clients and plain telnet) and carries their sessions
// to the Portico host. The host launches it; it is not run by hand.
package main

import "github.com/portico-mud/portico/sdk"

func main() {
	sdk.Serve(&Plugin{})
}
