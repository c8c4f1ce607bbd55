package main

// This file is RFC 1143's "Q method" of telnet option negotiation: for each
// option, each side (us: options we perform, asked for with DO/DONT; him:
// options the client performs, asked for with WILL/WONT) is in one of four
// states, NO, YES, WANTNO or WANTYES, with a one-bit queue for a change of
// mind made while a request is still unanswered. Following the tables of
// RFC 1143 section 7 exactly is what guarantees that no two correct peers
// can ever loop, and that an unexpected verb (a DONT for an option never
// offered, Evennia's #2044) is absorbed instead of ending the connection.
//
// It is pure state: it decides what to answer and what changed, and leaves
// sending and acting on the change to its caller.

// qState is one side's state of one option.
type qState uint8

const (
	qNo qState = iota
	qYes
	qWantNo
	qWantYes
)

// String returns the RFC's name of the state, for tests and logs.
func (s qState) String() string {
	switch s {
	case qNo:
		return "NO"
	case qYes:
		return "YES"
	case qWantNo:
		return "WANTNO"
	case qWantYes:
		return "WANTYES"
	}
	return "?"
}

// qSide is one side of one option, packed into a byte so that the state of
// every option a connection knows (see negotiation.known) costs a few bytes.
//
// Bits 0-1 hold the state, bit 2 the queue (set = OPPOSITE), bit 3 records
// that an unsolicited request was refused, so that a client that keeps
// asking for an option this server does not have is answered once only,
// and bit 4 that a repeated request went unanswered (the peer may be
// waiting in WANTYES; see request).
type qSide uint8

const (
	qStateMask qSide = 0x03
	qOpposite  qSide = 0x04
	qRefused   qSide = 0x08
	qIgnored   qSide = 0x10
)

func (q qSide) state() qState   { return qState(q & qStateMask) }
func (q qSide) opposite() bool  { return q&qOpposite != 0 }
func (q qSide) refused() bool   { return q&qRefused != 0 }
func (q qSide) ignored() bool   { return q&qIgnored != 0 }
func (q *qSide) set(s qState)   { *q = *q&^qStateMask | qSide(s) }
func (q *qSide) queue(opp bool) { *q = setBit(*q, qOpposite, opp) }

func setBit(q, bit qSide, on bool) qSide {
	if on {
		return q | bit
	}
	return q &^ bit
}

// qChange is what a received verb or a request did to an option's side.
type qChange uint8

const (
	// qNone: the option's state as seen by the application is unchanged.
	qNone qChange = iota
	// qEnabled: the option is now on (state YES).
	qEnabled
	// qDisabled: the option was on and now is off.
	qDisabled
	// qRefusedByPeer: the peer refused a request of ours to enable it.
	qRefusedByPeer
)

// qAnswer is what to send back: nothing, or the positive (WILL for us, DO
// for him) or negative (WONT, DONT) verb.
type qAnswer uint8

const (
	qSendNothing qAnswer = iota
	qSendPositive
	qSendNegative
)

// receive applies a received verb to one side: positive is WILL (him) or
// DO (us), negative WONT or DONT. accept says whether this side agrees to
// enable the option when the peer asks first. The returned answer must be
// sent, and the change acted on, by the caller.
func (q *qSide) receive(positive, accept bool) (qAnswer, qChange) {
	if positive {
		switch q.state() {
		case qNo:
			if accept {
				q.set(qYes)
				return qSendPositive, qEnabled
			}
			// Refused once: a peer that repeats the request after our
			// refusal gets no second answer, so that a broken peer cannot
			// drive a ping-pong of WILL and DONT. A correct peer left
			// waiting for the answer (WANTYES) treats the option as off,
			// as the refusal would have made it; request settles it.
			if q.refused() {
				*q |= qIgnored
				return qSendNothing, qNone
			}
			*q |= qRefused
			return qSendNegative, qNone
		case qYes:
			return qSendNothing, qNone
		case qWantNo:
			// "DONT answered by WILL": the peer's answer crossed our
			// request. RFC 1143 resolves it without a further message.
			if q.opposite() {
				q.set(qYes)
				q.queue(false)
				return qSendNothing, qEnabled
			}
			q.set(qNo)
			return qSendNothing, qDisabled
		case qWantYes:
			if q.opposite() {
				q.set(qWantNo)
				q.queue(false)
				return qSendNegative, qNone
			}
			q.set(qYes)
			return qSendNothing, qEnabled
		}
		return qSendNothing, qNone
	}
	switch q.state() {
	case qNo:
		return qSendNothing, qNone
	case qYes:
		q.set(qNo)
		return qSendNegative, qDisabled
	case qWantNo:
		if q.opposite() {
			q.set(qWantYes)
			q.queue(false)
			return qSendPositive, qNone
		}
		q.set(qNo)
		return qSendNothing, qDisabled
	case qWantYes:
		q.set(qNo)
		q.queue(false)
		return qSendNothing, qRefusedByPeer
	}
	return qSendNothing, qNone
}

// request asks for the option to be enabled (on=true) or disabled on this
// side, queueing a change of mind while an earlier request is unanswered.
// It reports whether to send the positive or negative verb now, and
// whether that enabled the option at once.
//
// Asking to enable an option after leaving a repeated request of the
// peer's unanswered is the one case outside RFC 1143's tables: the peer
// may still be waiting in WANTYES, and would take our WILL (or DO) as the
// answer it waited for, without replying. So the option counts as enabled
// as soon as it is sent; should the peer have given up instead, its reply
// agrees (ignored in YES) or refuses (and turns it off again).
func (q *qSide) request(on bool) (qAnswer, qChange) {
	if !on {
		return q.plainRequest(false), qNone
	}
	ignored := q.ignored()
	// Our own request supersedes any earlier refusal of the peer's.
	*q &^= qRefused | qIgnored
	if ignored && q.state() == qNo {
		q.set(qYes)
		return qSendPositive, qEnabled
	}
	return q.plainRequest(true), qNone
}

func (q *qSide) plainRequest(on bool) qAnswer {
	if on {
		switch q.state() {
		case qNo:
			q.set(qWantYes)
			return qSendPositive
		case qWantNo:
			q.queue(true)
		case qWantYes:
			q.queue(false)
		}
		return qSendNothing
	}
	switch q.state() {
	case qYes:
		q.set(qWantNo)
		return qSendNegative
	case qWantYes:
		q.queue(true)
	case qWantNo:
		q.queue(false)
	}
	return qSendNothing
}

// force sends a request regardless of an unanswered earlier one, moving
// straight to WANTYES or WANTNO with an empty queue. It is only for a peer
// that has never negotiated anything, on a side that never agrees to the
// peer's own requests: waiting for an answer such a peer may never give
// would leave it, for instance, with its echo switched off for good, and
// the refusals are what keep late answers from starting a loop. See
// negotiation.request.
func (q *qSide) force(on bool) (qAnswer, qChange) {
	if on && q.ignored() && q.state() == qNo {
		return q.request(on)
	}
	*q &^= qOpposite
	if on {
		*q &^= qRefused | qIgnored
	}
	return q.forceState(on), qNone
}

func (q *qSide) forceState(on bool) qAnswer {
	cur := q.state()
	if on {
		if cur == qYes || cur == qWantYes {
			return qSendNothing
		}
		q.set(qWantYes)
		return qSendPositive
	}
	if cur == qNo || cur == qWantNo {
		return qSendNothing
	}
	q.set(qWantNo)
	return qSendNegative
}
