package main

import (
	"github.com/portico-mud/portico/plugins/telnet/codec"
	"github.com/portico-mud/portico/sdk"
)

// sink is what the negotiation layer acts on: the connection's output and
// its session's flags. The connection implements it; tests and the fuzz
// target use a recorder.
type sink interface {
	// send queues telnet bytes for the client, after everything queued
	// before (compressed once MCCP is on).
	send(b []byte)
	// compress starts MCCP2 compression after what is queued so far, or
	// ends the compressed stream cleanly.
	compress(on bool)
	// flagsChanged reports protocol flags set by negotiation.
	flagsChanged(flags map[string]any)
	// msspTable returns the MSSP variables to send now (PLAYERS and UPTIME
	// are live).
	msspTable() []msspVar
}

// negotiation is one connection's telnet option state: the Q method table,
// the progress of the handshakes (TTYPE cycle, NAWS, CHARSET) and the flags
// they produced. It does no I/O of its own and is not safe for concurrent
// use: the connection serialises calls under its lock.
type negotiation struct {
	pol *policy
	out sink
	// known holds the Q method state of the options in optionTable, by
	// row; other that of any other option the client raised (each is
	// refused, and remembered so as to be answered once). Kept this way
	// rather than as a table of all 256 options, which would cost every
	// connection half a kilobyte for the life of the session.
	known [len(optionTable)][2]qSide
	other []otherOption

	// negotiating is set once the client has sent any option verb. Until
	// then requests do not wait for answers (see qSide.force), because a
	// client that answers nothing must still get its echo back.
	negotiating bool
	// done is set when every connect offer was answered and every started
	// handshake finished, or when the caller gave up waiting (timeout).
	done bool

	// flags holds every flag negotiation set so far; the connection
	// re-asserts them at its first sync, so that a stale copy the host
	// pushed meanwhile cannot undo them (see conn.Synced, which also drops
	// the ones the host changed on purpose). Cleared once synced.
	flags map[string]any
	// noGoAhead mirrors NOGOAHEAD as negotiated (for the Mudlet rule).
	noGoAhead bool
	// compressing is set while MCCP2 is on.
	compressing bool

	ttype   ttypeState
	naws    nawsState
	charset charsetState
}

// otherOption is the state of an option outside optionTable.
type otherOption struct {
	opt byte
	q   [2]qSide
}

// side returns the state of option opt's side s, for change. The pointer
// is valid until the next call.
func (n *negotiation) side(opt byte, s side) *qSide {
	if row := knownRow[opt]; row > 0 {
		return &n.known[row-1][s]
	}
	for i := range n.other {
		if n.other[i].opt == opt {
			return &n.other[i].q[s]
		}
	}
	n.other = append(n.other, otherOption{opt: opt})
	return &n.other[len(n.other)-1].q[s]
}

// state returns the state of option opt's side s.
func (n *negotiation) state(opt byte, s side) qState {
	if row := knownRow[opt]; row > 0 {
		return n.known[row-1][s].state()
	}
	for _, o := range n.other {
		if o.opt == opt {
			return o.q[s].state()
		}
	}
	return qNo
}

func newNegotiation(pol *policy, out sink) *negotiation {
	return &negotiation{pol: pol, out: out, flags: initialFlags(), noGoAhead: true}
}

// start sends the connect offers and records them as requests.
func (n *negotiation) start() {
	for _, o := range n.pol.offeredOptions {
		n.side(o[0], side(o[1])).request(true)
	}
	if len(n.pol.offerBytes) > 0 {
		n.out.send(n.pol.offerBytes)
	}
}

// setFlags records negotiated flags and reports them.
func (n *negotiation) setFlags(f map[string]any) {
	if len(f) == 0 {
		return
	}
	if n.flags != nil {
		for k, v := range f {
			n.flags[k] = v
		}
	}
	if v, ok := f[flagNoGoAhead].(bool); ok {
		n.noGoAhead = v
	}
	n.out.flagsChanged(f)
}

// is reports whether opt is on for side s.
func (n *negotiation) is(opt byte, s side) bool { return n.state(opt, s) == qYes }

// receive handles IAC verb opt from the client.
func (n *negotiation) receive(verb, opt byte) {
	var s side
	var positive bool
	switch verb {
	case codec.WILL:
		s, positive = sideHim, true
	case codec.WONT:
		s, positive = sideHim, false
	case codec.DO:
		s, positive = sideUs, true
	case codec.DONT:
		s, positive = sideUs, false
	default:
		return
	}
	n.negotiating = true
	ans, change := n.side(opt, s).receive(positive, n.pol.accept[opt][s])
	// Turning an option off acts before the answer goes out, turning one on
	// after it: MCCP2's compressed stream must end before WONT MCCP2 is
	// sent in clear, and begin only after WILL MCCP2.
	if change == qDisabled {
		n.changed(opt, s, false)
	}
	n.answer(opt, s, ans)
	switch change {
	case qEnabled:
		n.changed(opt, s, true)
	case qRefusedByPeer:
		n.refused(opt, s)
	}
}

// answer sends the verb a Q method transition asked for.
func (n *negotiation) answer(opt byte, s side, ans qAnswer) {
	if ans == qSendNothing {
		return
	}
	var verb byte
	switch {
	case s == sideUs && ans == qSendPositive:
		verb = codec.WILL
	case s == sideUs:
		verb = codec.WONT
	case ans == qSendPositive:
		verb = codec.DO
	default:
		verb = codec.DONT
	}
	n.out.send([]byte{codec.IAC, verb, opt})
}

// request asks to turn opt on or off on side s (the game's echo option).
//
// Until the client has negotiated anything, each change is sent at once
// (qSide.force) rather than waiting for an answer that a raw client never
// gives. That is loop-free only for an option this side never agrees to
// when the client asks (as ECHO): a late answer to a superseded request can
// then only be refused, never turned into a new request, which is what a
// loop needs (TestQForcedNeverLoops checks it). Other options always wait.
func (n *negotiation) request(opt byte, s side, on bool) {
	if !n.pol.enabled(opt) {
		return
	}
	q := n.side(opt, s)
	var ans qAnswer
	var change qChange
	if n.negotiating || n.pol.accept[opt][s] {
		ans, change = q.request(on)
	} else {
		ans, change = q.force(on)
	}
	n.answer(opt, s, ans)
	if change == qEnabled {
		n.changed(opt, s, true)
	}
}

// changed acts on an option turned on or off.
func (n *negotiation) changed(opt byte, s side, on bool) {
	if s == sideHim {
		switch opt {
		case codec.OptNAWS:
			n.naws.changed(n, on)
		case codec.OptTTYPE:
			n.ttype.changed(n, on)
		case codec.OptLinemode:
			if on {
				n.out.send(linemodeMode())
			}
		}
		return
	}
	switch opt {
	case codec.OptSGA:
		n.setFlags(map[string]any{flagNoGoAhead: on})
	case codec.OptCharset:
		if on {
			n.charset.request(n)
		}
	case codec.OptMCCP2:
		// Idempotent: a second start inside a running stream would send
		// the client a second IAC SB MCCP2 IAC SE, compressed.
		if on == n.compressing {
			return
		}
		n.compressing = on
		if on {
			n.out.send(codec.Subnegotiation(codec.OptMCCP2, nil))
		}
		n.out.compress(on)
		n.setFlags(map[string]any{flagMCCP: on})
	case codec.OptMSSP:
		if on {
			n.out.send(encodeMSSP(n.out.msspTable()))
		}
	case codec.OptGMCP, codec.OptMSDP:
		n.setFlags(map[string]any{flagOOB: n.is(codec.OptGMCP, sideUs) || n.is(codec.OptMSDP, sideUs)})
	case codec.OptMXP:
		if on {
			n.out.send(mxpStart())
		}
		n.setFlags(map[string]any{flagMXP: on})
	}
}

// refused acts on the client refusing one of our offers.
func (n *negotiation) refused(opt byte, s side) {
	if s == sideUs && opt == codec.OptSGA {
		// The client wants go-aheads (Evennia: DONT SGA -> NOGOAHEAD off).
		n.setFlags(map[string]any{flagNoGoAhead: false})
	}
}

// subneg handles IAC SB opt payload IAC SE from the client and returns the
// inputs it carries (GMCP and MSDP), which the caller sends to the host.
// payload is only valid during the call.
func (n *negotiation) subneg(opt byte, payload []byte) []sdk.Message {
	switch opt {
	case codec.OptTTYPE:
		n.ttype.subneg(n, payload)
	case codec.OptNAWS:
		n.naws.subneg(n, payload)
	case codec.OptCharset:
		n.charset.subneg(n, payload)
	case codec.OptGMCP:
		// Decoded whether or not GMCP was agreed, as Evennia does: it is
		// the client's input either way, and only output needs agreement.
		if m, ok := decodeGMCP(payload); ok {
			return []sdk.Message{m}
		}
	case codec.OptMSDP:
		return decodeMSDP(payload)
	}
	// LINEMODE (MODE acknowledgements, SLC), MSSP and anything else from
	// the client needs no answer.
	return nil
}

// pending reports whether a handshake that sets flags is still under way:
// a connect offer unanswered, or a TTYPE cycle, NAWS report or CHARSET
// answer awaited.
func (n *negotiation) pending() bool {
	for _, o := range n.pol.awaited {
		if n.state(o[0], side(o[1])) == qWantYes {
			return true
		}
	}
	return n.ttype.pending() || n.naws.pending() || n.charset.pending()
}

// checkDone reports, once, that negotiation has finished.
func (n *negotiation) checkDone() bool {
	if n.done || n.pending() {
		return false
	}
	n.done = true
	return true
}

// finish ends the wait for negotiation (done or timed out) and returns
// every flag negotiation set, for the connection's first sync.
func (n *negotiation) finish() map[string]any {
	n.done = true
	f := n.flags
	n.flags = nil
	return f
}

// linemodeMode is IAC SB LINEMODE MODE EDIT|TRAPSIG IAC SE (RFC 1184):
// the client edits lines locally and turns interrupt keys into telnet
// commands, which is the line-at-a-time behaviour a MUD wants.
func linemodeMode() []byte {
	const (
		lmMode    = 1
		lmEdit    = 1
		lmTrapSig = 2
	)
	return codec.Subnegotiation(codec.OptLinemode, []byte{lmMode, lmEdit | lmTrapSig})
}
