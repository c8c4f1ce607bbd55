package main

import (
	"sort"
	"strings"

	"github.com/portico-mud/portico/plugins/telnet/codec"
	"github.com/portico-mud/portico/sdk"
)

// optionSpec says how this server treats one telnet option.
type optionSpec struct {
	// name is the option's name in config (disable_options) and docs.
	name string
	code byte
	// offerUs and offerHim: sent on connect as WILL (we perform it) or DO
	// (we ask the client to).
	offerUs, offerHim bool
	// acceptUs and acceptHim: a client's DO (or WILL) is agreed to even
	// when it comes first.
	acceptUs, acceptHim bool
	// silent marks an offer whose answer sets no protocol flag, so the
	// sync of the negotiated flags does not wait for it. TinTin++, for
	// one, leaves WILL MSSP unanswered (it is for crawlers).
	silent bool
}

// optionTable lists every option this server knows, in the order the
// connect offers are sent: Evennia's (LINEMODE first, so that a plain telnet
// client keeps local line editing despite SGA), with EOR and CHARSET added.
// ECHO is offered by the game only, while a password is typed. Any option
// not listed is refused, once.
var optionTable = [...]optionSpec{
	{name: "linemode", code: codec.OptLinemode, offerHim: true, acceptHim: true, silent: true},
	// The client's own SGA is harmless to agree to; the server's SGA is
	// what NOGOAHEAD follows.
	{name: "sga", code: codec.OptSGA, offerUs: true, acceptUs: true, acceptHim: true},
	{name: "naws", code: codec.OptNAWS, offerHim: true, acceptHim: true},
	{name: "ttype", code: codec.OptTTYPE, offerHim: true, acceptHim: true},
	{name: "eor", code: codec.OptEOR, offerUs: true, acceptUs: true, silent: true},
	// RFC 2066 lets the side that sent WILL and received DO send REQUEST:
	// we offer WILL to ask for UTF-8 ourselves, and agree to a client's
	// WILL so that it may ask too.
	{name: "charset", code: codec.OptCharset, offerUs: true, acceptUs: true, acceptHim: true},
	{name: "mccp2", code: codec.OptMCCP2, offerUs: true, acceptUs: true},
	{name: "mssp", code: codec.OptMSSP, offerUs: true, acceptUs: true, silent: true},
	{name: "msdp", code: codec.OptMSDP, offerUs: true, acceptUs: true},
	{name: "gmcp", code: codec.OptGMCP, offerUs: true, acceptUs: true},
	{name: "mxp", code: codec.OptMXP, offerUs: true, acceptUs: true},
	// Never offered nor accepted from the client: a client's DO ECHO
	// would have the server echo typing, which a MUD does not do. The
	// game's echo option drives it (conn.echo).
	{name: "echo", code: codec.OptEcho},
}

// knownRow maps an option code to its row in optionTable plus one (0: an
// option this server does not know).
var knownRow = func() (rows [256]uint8) {
	for i, o := range optionTable {
		rows[o.code] = uint8(i + 1)
	}
	return rows
}()

// optionNames returns the names disable_options accepts, sorted.
func optionNames() []string {
	var names []string
	for _, o := range optionTable {
		names = append(names, o.name)
	}
	sort.Strings(names)
	return names
}

// side indexes the two halves of an option's state.
type side uint8

const (
	sideUs  side = 0 // options we perform: the client says DO/DONT
	sideHim side = 1 // options the client performs: it says WILL/WONT
)

// policy is which options a plugin offers and accepts, built once from the
// config and shared read-only by every connection.
type policy struct {
	accept         [256][2]bool
	disabled       [256]bool
	offerBytes     []byte
	offeredOptions [][2]byte // {option, side} pairs offered on connect
	// awaited are the offers whose answers the flag sync waits for.
	awaited [][2]byte
}

// newPolicy builds the policy with the named options switched off.
func newPolicy(disable []string) (*policy, error) {
	p := &policy{}
	off := map[string]bool{}
	for _, name := range disable {
		n := strings.ToLower(strings.TrimSpace(name))
		found := false
		for _, o := range optionTable {
			if o.name == n {
				found = true
			}
		}
		if !found {
			return nil, sdk.KeyError("disable_options", "unknown option %q (known: %s)",
				name, strings.Join(optionNames(), ", "))
		}
		off[n] = true
	}
	for _, o := range optionTable {
		if off[o.name] {
			p.disabled[o.code] = true
			continue
		}
		p.accept[o.code][sideUs] = o.acceptUs
		p.accept[o.code][sideHim] = o.acceptHim
		for _, offer := range []struct {
			on   bool
			verb byte
			side side
		}{{o.offerHim, codec.DO, sideHim}, {o.offerUs, codec.WILL, sideUs}} {
			if !offer.on {
				continue
			}
			p.offerBytes = append(p.offerBytes, codec.IAC, offer.verb, o.code)
			p.offeredOptions = append(p.offeredOptions, [2]byte{o.code, byte(offer.side)})
			if !o.silent {
				p.awaited = append(p.awaited, [2]byte{o.code, byte(offer.side)})
			}
		}
	}
	return p, nil
}

// defaultPolicy is the policy with every option on.
func defaultPolicy() *policy {
	p, err := newPolicy(nil)
	if err != nil {
		panic(err) // the table itself is wrong
	}
	return p
}

// enabled reports whether opt may be used at all (ECHO can be disabled too).
func (p *policy) enabled(opt byte) bool { return !p.disabled[opt] }
