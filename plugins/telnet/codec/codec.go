// Package codec parses and encodes the telnet protocol at the byte level
// (RFC 854 and RFC 855).
//
// The Parser turns a raw byte stream from a client into application data,
// commands (NOP, GA, AYT, ...), option negotiations (WILL/WONT/DO/DONT) and
// subnegotiations, undoing telnet's escaping on the way; EscapeText,
// Negotiation and Subnegotiation do the reverse for output.
//
// This package is deliberately mechanism only. It must not decide anything
// about options (which to accept, what to answer, the Q method state of
// RFC 1143), split application data into lines (that is sdk/lines' job),
// decode character sets or ANSI, compress (MCCP) or do any I/O. Keeping it
// free of policy is what lets it be fuzzed exhaustively and shared by every
// telnet-speaking plugin.
package codec

import "bytes"

// Telnet commands (RFC 854), each sent after IAC.
const (
	// IAC ("interpret as command") introduces every command; doubled, it
	// stands for a data byte 255.
	IAC byte = 255
	// DONT asks the peer to stop performing an option, or confirms it won't.
	DONT byte = 254
	// DO asks the peer to perform an option, or confirms that it may.
	DO byte = 253
	// WONT refuses or stops performing an option on this side.
	WONT byte = 252
	// WILL offers or confirms performing an option on this side.
	WILL byte = 251
	// SB starts a subnegotiation: IAC SB option payload IAC SE.
	SB byte = 250
	// GA is "go ahead", sent after a prompt to half-duplex clients.
	GA byte = 249
	// EL is "erase line".
	EL byte = 248
	// EC is "erase character".
	EC byte = 247
	// AYT is "are you there".
	AYT byte = 246
	// AO is "abort output".
	AO byte = 245
	// IP is "interrupt process".
	IP byte = 244
	// BRK is the "break" key.
	BRK byte = 243
	// DM is the "data mark" of a telnet synch.
	DM byte = 242
	// NOP is "no operation"; servers send it as a keepalive.
	NOP byte = 241
	// SE ends a subnegotiation.
	SE byte = 240
	// EOR marks the end of a record (RFC 885), an alternative to GA.
	EOR byte = 239
)

// Telnet option numbers used by MUD servers and clients.
const (
	// OptEcho is ECHO (RFC 857); a server WILL ECHO hides the user's typing.
	OptEcho byte = 1
	// OptSGA is SUPPRESS-GO-AHEAD (RFC 858).
	OptSGA byte = 3
	// OptTTYPE is TERMINAL-TYPE (RFC 1091), also carrying MTTS.
	OptTTYPE byte = 24
	// OptEOR is END-OF-RECORD (RFC 885).
	OptEOR byte = 25
	// OptNAWS is window size negotiation (RFC 1073).
	OptNAWS byte = 31
	// OptLinemode is LINEMODE (RFC 1184).
	OptLinemode byte = 34
	// OptCharset is CHARSET (RFC 2066).
	OptCharset byte = 42
	// OptMSDP is the MUD Server Data Protocol.
	OptMSDP byte = 69
	// OptMSSP is the MUD Server Status Protocol.
	OptMSSP byte = 70
	// OptMCCP2 is the MUD Client Compression Protocol, version 2.
	OptMCCP2 byte = 86
	// OptMXP is the MUD eXtension Protocol.
	OptMXP byte = 91
	// OptGMCP is the Generic MUD Communication Protocol.
	OptGMCP byte = 201
)

// DefaultMaxSubneg is the subnegotiation payload bound a Parser uses when its
// MaxSubneg is zero. It is generous for GMCP/MSDP messages a client sends
// while still capping what a hostile client can make the server hold.
const DefaultMaxSubneg = 8192

// EventKind says what an Event carries.
type EventKind int

const (
	// EventData carries application bytes in Data, with telnet escaping
	// (IAC IAC, CR NUL) already undone.
	EventData EventKind = iota
	// EventCommand carries a command without an option in Command: NOP,
	// GA, AYT, EOR, DM, BRK, IP, AO, EC or EL.
	EventCommand
	// EventNegotiation carries WILL, WONT, DO or DONT in Command and the
	// option it concerns in Option.
	EventNegotiation
	// EventSubneg carries a complete subnegotiation: its option in Option
	// and its payload, with IAC IAC un-doubled, in Data.
	EventSubneg
)

// String returns the kind's name, for logs and test failures.
func (k EventKind) String() string {
	switch k {
	case EventData:
		return "Data"
	case EventCommand:
		return "Command"
	case EventNegotiation:
		return "Negotiation"
	case EventSubneg:
		return "Subneg"
	}
	return "EventKind(?)"
}

// Event is one item parsed from the stream. Which fields are set depends on
// Kind.
type Event struct {
	// Kind says what the event carries.
	Kind EventKind
	// Data is the application bytes of an EventData or the payload of an
	// EventSubneg. It aliases the input passed to Feed or the parser's
	// own buffer, so it is valid only during the emit call.
	Data []byte
	// Command is the command byte of an EventCommand, or the verb (WILL,
	// WONT, DO, DONT) of an EventNegotiation.
	Command byte
	// Option is the option of an EventNegotiation or EventSubneg.
	Option byte
	// Truncated is set on an EventSubneg whose payload exceeded the
	// parser's MaxSubneg. Its Data is then empty: the payload was discarded
	// rather than cut, because an option handler reading a prefix of, say,
	// a JSON document could act on something the client never said. The
	// event exists so the caller can log the abuse or drop the client.
	Truncated bool
}

// state is where the parser is within a telnet sequence.
type state uint8

const (
	stData  state = iota // application data
	stIAC                // after IAC
	stVerb               // after IAC WILL/WONT/DO/DONT, waiting for the option
	stSBOpt              // after IAC SB, waiting for the option
	stSB                 // inside a subnegotiation payload
	stSBIAC              // after IAC inside a subnegotiation
)

// Parser is the receiving half of a telnet connection's byte-level state
// machine. The zero value is ready to use.
//
// A Parser keeps state between calls to Feed, so any sequence may be split
// across calls at any byte (a lone IAC at the end of a packet included). One
// Parser belongs to one connection and is not safe for concurrent use.
type Parser struct {
	// MaxSubneg bounds the payload of one subnegotiation, in bytes; zero
	// or a negative value means DefaultMaxSubneg. A longer subnegotiation
	// is reported as an EventSubneg with Truncated set and no Data, and
	// the parser never holds more than MaxSubneg bytes for it.
	MaxSubneg int

	state state
	verb  byte // WILL/WONT/DO/DONT awaiting its option (stVerb)
	opt   byte // option of the subnegotiation being collected
	// cr is set when the last data byte was CR: RFC 854 sends a bare CR
	// as CR NUL, so a NUL right after it is padding, not data.
	cr     bool
	sb     []byte // subnegotiation payload collected so far
	sbOver bool   // the current subnegotiation exceeded the bound
}

// Release drops the parser's subnegotiation buffer while it holds nothing
// (the next subnegotiation allocates one again), so that a connection at
// rest keeps none. Feed's state is otherwise untouched.
func (p *Parser) Release() {
	if len(p.sb) == 0 {
		p.sb = nil
	}
}

// Feed parses b and calls emit for each event it completes, in stream order.
//
// Rules: IAC IAC is a data byte 255; IAC WILL/WONT/DO/DONT option is an
// EventNegotiation; IAC SB option ... IAC SE is an EventSubneg with IAC IAC
// inside un-doubled; the other known commands are EventCommand. IAC SE
// outside a subnegotiation, and IAC followed by a byte that is not a telnet
// command, are ignored (both bytes dropped). A CR in data followed at once by
// NUL yields just the CR; CR LF is passed through unchanged, since splitting
// lines is the caller's business.
//
// Inside a subnegotiation, IAC followed by anything but IAC or SE means the
// client broke off without IAC SE: the unfinished subnegotiation is dropped
// and the byte after IAC is read as a command, so that a following IAC WILL
// (or new IAC SB) is not lost.
//
// Runs of data are emitted as single EventData slices of b wherever they are
// contiguous in b; a run is cut only by a telnet command, by the second byte
// of IAC IAC or CR NUL, or by the end of b. Event.Data aliases b or the
// parser's buffer and is valid only during the emit call: emit must neither
// keep nor modify it, and must not call Feed on the same Parser.
func (p *Parser) Feed(b []byte, emit func(Event)) {
	run := -1 // start in b of data not yet emitted, or -1
	// nextIAC caches the index of the first IAC at or after the point it
	// was searched from (len(b) if none). Searching again from every data
	// run would be quadratic on input such as many CR NUL pairs with no IAC.
	nextIAC := -1
	i := 0
	for i < len(b) {
		switch p.state {
		case stData:
			if run < 0 {
				run = i
			}
			if nextIAC < i {
				nextIAC = len(b)
				if j := bytes.IndexByte(b[i:], IAC); j >= 0 {
					nextIAC = i + j
				}
			}
			i = p.scanData(b, i, nextIAC)
			if i == len(b) {
				break
			}
			if i > run {
				emit(Event{Kind: EventData, Data: b[run:i]})
			}
			run = -1
			if b[i] == IAC {
				p.state = stIAC
			}
			// Either way a CR is no longer pending: a NUL after CR has just
			// been dropped, and a NUL after CR IAC ... is real data.
			p.cr = false
			i++

		case stIAC:
			c := b[i]
			i++
			p.state = stData
			switch {
			case c == IAC:
				// The escaped 255 is the second IAC itself, so the new run
				// starts there and the data after it joins the same slice.
				run = i - 1
			case c >= WILL: // WILL, WONT, DO, DONT
				p.verb = c
				p.state = stVerb
			case c == SB:
				p.state = stSBOpt
			case c == SE:
				// Stray end of subnegotiation: nothing to end.
			case c >= EOR: // EOR, NOP, DM, BRK, IP, AO, AYT, EC, EL, GA
				emit(Event{Kind: EventCommand, Command: c})
			default:
				// Not a telnet command. Dropping both bytes is what most
				// clients and servers do, and it cannot desynchronise.
			}

		case stVerb:
			emit(Event{Kind: EventNegotiation, Command: p.verb, Option: b[i]})
			i++
			p.state = stData

		case stSBOpt:
			p.opt = b[i]
			i++
			p.sb = p.sb[:0]
			p.sbOver = false
			p.state = stSB

		case stSB:
			j := bytes.IndexByte(b[i:], IAC)
			if j < 0 {
				p.collect(b[i:])
				i = len(b)
				break
			}
			p.collect(b[i : i+j])
			i += j + 1
			p.state = stSBIAC

		case stSBIAC:
			switch c := b[i]; c {
			case IAC:
				p.collect(b[i : i+1])
				i++
				p.state = stSB
			case SE:
				i++
				p.state = stData
				if p.sbOver {
					emit(Event{Kind: EventSubneg, Option: p.opt, Truncated: true})
				} else {
					emit(Event{Kind: EventSubneg, Option: p.opt, Data: p.sb})
				}
				p.sb = p.sb[:0]
				p.sbOver = false
			default:
				// Unterminated subnegotiation: drop it and reread c as
				// the byte after an IAC in data.
				p.sb = p.sb[:0]
				p.sbOver = false
				p.state = stIAC
			}
		}
	}
	if run >= 0 && run < len(b) {
		emit(Event{Kind: EventData, Data: b[run:]})
	}
}

// scanData returns the index of the first byte in b[i:end] that is a NUL
// padding a CR, or end, where end is the next IAC or len(b); it leaves p.cr
// describing the last data byte scanned. The search uses bytes.IndexByte,
// which is vectorised, because NUL is rare in text and this loop is the
// parser's hot path.
func (p *Parser) scanData(b []byte, i, end int) int {
	stop := end
	for k := i; k < end; {
		z := bytes.IndexByte(b[k:end], 0)
		if z < 0 {
			break
		}
		z += k
		if (z == i && p.cr) || (z > i && b[z-1] == '\r') {
			stop = z
			break
		}
		k = z + 1
	}
	if stop > i {
		p.cr = b[stop-1] == '\r'
	}
	return stop
}

// maxSubneg returns the effective subnegotiation bound.
func (p *Parser) maxSubneg() int {
	if p.MaxSubneg <= 0 {
		return DefaultMaxSubneg
	}
	return p.MaxSubneg
}

// collect adds part of a subnegotiation payload, switching to discarding
// once the payload would exceed the bound. The buffer's capacity is capped at
// the bound rather than left to append's doubling, so the bound really caps
// memory.
func (p *Parser) collect(chunk []byte) {
	if p.sbOver || len(chunk) == 0 {
		return
	}
	limit := p.maxSubneg()
	need := len(p.sb) + len(chunk)
	if need > limit {
		p.sbOver = true
		p.sb = p.sb[:0]
		return
	}
	if need > cap(p.sb) {
		nb := make([]byte, len(p.sb), min(max(2*cap(p.sb), need, 64), limit))
		copy(nb, p.sb)
		p.sb = nb
	}
	p.sb = append(p.sb, chunk...)
}

// EscapeText appends s to dst in the form telnet requires on the wire and
// returns the extended slice: IAC is doubled, LF becomes CR LF unless it is
// already preceded by CR, and a CR not followed by LF becomes CR NUL (RFC 854
// reserves a bare CR for those two pairs).
//
// Each call stands alone: a CR at the very end of s becomes CR NUL even if
// the next call's text starts with LF, so callers should pass whole lines.
func EscapeText(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case IAC:
			dst = append(dst, IAC, IAC)
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				dst = append(dst, '\r', '\n')
				i++
			} else {
				dst = append(dst, '\r', 0)
			}
		case '\n':
			// A LF preceded by CR was consumed with its CR above.
			dst = append(dst, '\r', '\n')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// Negotiation returns the three bytes IAC verb opt, where verb is WILL, WONT,
// DO or DONT.
func Negotiation(verb, opt byte) []byte {
	return []byte{IAC, verb, opt}
}

// Subnegotiation returns IAC SB opt payload IAC SE with every IAC in payload
// doubled, so that the payload can carry any bytes.
func Subnegotiation(opt byte, payload []byte) []byte {
	out := make([]byte, 0, len(payload)+8)
	out = append(out, IAC, SB, opt)
	for {
		j := bytes.IndexByte(payload, IAC)
		if j < 0 {
			break
		}
		out = append(out, payload[:j+1]...)
		out = append(out, IAC)
		payload = payload[j+1:]
	}
	out = append(out, payload...)
	return append(out, IAC, SE)
}
