// Command portico-telnet is Portico's telnet protocol plugin: it listens for
// telnet clients (MUD clients and plain telnet) and carries their sessions
// to the Portico host. The host launches it, or, as a remote plugin on
// another machine, the operator starts it with --connect HOST:PORT and
// --identity DIR (see sdk.Serve).
package main

import "github.com/portico-mud/portico/sdk"

func main() {
	sdk.Serve(&Plugin{})
}
