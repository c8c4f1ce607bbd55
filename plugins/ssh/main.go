// Command portico-ssh is Portico's SSH protocol plugin: players log in with
// an SSH client, with a password or a key, and get a terminal with
// server-side line editing; `ssh host command` runs one command. The host
// launches it; it is not run by hand.
//
// It is built on gliderlabs/ssh and imports only the SDK, never the host.
package main

import "github.com/portico-mud/portico/sdk"

func main() {
	sdk.Serve(&Plugin{})
}
