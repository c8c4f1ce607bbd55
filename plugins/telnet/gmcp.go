package main

import (
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/gmcp"
)

// maxOOBName bounds an inputfunc name taken from the client.
const maxOOBName = 128

// decodeGMCP maps a GMCP subnegotiation payload ("Package.Name <json>") to
// an inputfunc call, as Evennia does (sdk/gmcp holds the mapping every
// GMCP-speaking plugin shares). It reports false for an empty message or an
// unusable name.
func decodeGMCP(payload []byte) (sdk.Message, bool) { return gmcp.Decode(string(payload)) }

// gmcpPackage is the GMCP package an outputfunc is sent as.
func gmcpPackage(name string) string { return gmcp.Package(name) }

// encodeGMCP renders an outputfunc call as a GMCP message, without the
// telnet framing.
func encodeGMCP(m sdk.Message) []byte { return []byte(gmcp.Encode(m)) }
