package main

import (
	"bytes"
	"encoding/json"

	"github.com/portico-mud/portico/plugins/telnet/codec"
	"github.com/portico-mud/portico/sdk"
)

// Out-of-band output: every outputfunc other than text and prompt goes to
// the client as GMCP and/or MSDP, whichever it agreed to (both, when it
// agreed to both, as Evennia does), and is dropped for a client with
// neither. GMCP and MSDP input is decoded in gmcp.go and msdp.go.

// appendOOB appends m, framed as telnet subnegotiations, for the protocols
// in use.
func appendOOB(out []byte, m sdk.Message, gmcp, msdp bool) []byte {
	if msdp {
		out = append(out, codec.Subnegotiation(codec.OptMSDP, encodeMSDP(m))...)
	}
	if gmcp {
		out = append(out, codec.Subnegotiation(codec.OptGMCP, encodeGMCP(m))...)
	}
	return out
}

// jsonText encodes v as compact JSON without HTML escaping: GMCP is not
// HTML, and "<" should stay "<".
func jsonText(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte{'\n'})), nil
}
