package main

import (
	"math/rand/v2"
	"testing"
)

func mkSide(s qState, opposite bool) qSide {
	var q qSide
	q.set(s)
	q.queue(opposite)
	return q
}

// TestQReceive checks every row of RFC 1143 section 7's receive tables.
func TestQReceive(t *testing.T) {
	tests := []struct {
		from     qState
		opposite bool
		positive bool // WILL (or DO)
		accept   bool
		to       qState
		toOpp    bool
		send     qAnswer
		change   qChange
	}{
		// Receiving WILL.
		{qNo, false, true, true, qYes, false, qSendPositive, qEnabled},
		{qNo, false, true, false, qNo, false, qSendNegative, qNone},
		{qYes, false, true, true, qYes, false, qSendNothing, qNone},
		{qWantNo, false, true, true, qNo, false, qSendNothing, qDisabled}, // "DONT answered by WILL"
		{qWantNo, true, true, true, qYes, false, qSendNothing, qEnabled},  // same, queue opposite
		{qWantYes, false, true, true, qYes, false, qSendNothing, qEnabled},
		{qWantYes, true, true, true, qWantNo, false, qSendNegative, qNone},
		// Receiving WONT.
		{qNo, false, false, true, qNo, false, qSendNothing, qNone},
		{qYes, false, false, true, qNo, false, qSendNegative, qDisabled},
		{qWantNo, false, false, true, qNo, false, qSendNothing, qDisabled},
		{qWantNo, true, false, true, qWantYes, false, qSendPositive, qNone},
		{qWantYes, false, false, true, qNo, false, qSendNothing, qRefusedByPeer},
		{qWantYes, true, false, true, qNo, false, qSendNothing, qRefusedByPeer},
	}
	for _, tt := range tests {
		q := mkSide(tt.from, tt.opposite)
		send, change := q.receive(tt.positive, tt.accept)
		if q.state() != tt.to || q.opposite() != tt.toOpp || send != tt.send || change != tt.change {
			t.Errorf("%v/opp=%v receive(positive=%v, accept=%v) -> %v/opp=%v send %d change %d; want %v/opp=%v send %d change %d",
				tt.from, tt.opposite, tt.positive, tt.accept, q.state(), q.opposite(), send, change,
				tt.to, tt.toOpp, tt.send, tt.change)
		}
	}
}

// TestQRequest checks RFC 1143's tables for asking to enable or disable.
func TestQRequest(t *testing.T) {
	tests := []struct {
		from     qState
		opposite bool
		on       bool
		to       qState
		toOpp    bool
		send     qAnswer
	}{
		{qNo, false, true, qWantYes, false, qSendPositive},
		{qYes, false, true, qYes, false, qSendNothing}, // already enabled
		{qWantNo, false, true, qWantNo, true, qSendNothing},
		{qWantNo, true, true, qWantNo, true, qSendNothing}, // already queued
		{qWantYes, false, true, qWantYes, false, qSendNothing},
		{qWantYes, true, true, qWantYes, false, qSendNothing},
		{qNo, false, false, qNo, false, qSendNothing}, // already disabled
		{qYes, false, false, qWantNo, false, qSendNegative},
		{qWantNo, false, false, qWantNo, false, qSendNothing},
		{qWantNo, true, false, qWantNo, false, qSendNothing},
		{qWantYes, false, false, qWantYes, true, qSendNothing},
		{qWantYes, true, false, qWantYes, true, qSendNothing},
	}
	for _, tt := range tests {
		q := mkSide(tt.from, tt.opposite)
		send, _ := q.request(tt.on)
		if q.state() != tt.to || q.opposite() != tt.toOpp || send != tt.send {
			t.Errorf("%v/opp=%v request(%v) -> %v/opp=%v send %d; want %v/opp=%v send %d",
				tt.from, tt.opposite, tt.on, q.state(), q.opposite(), send, tt.to, tt.toOpp, tt.send)
		}
	}
}

func TestQRefusedOnce(t *testing.T) {
	var q qSide
	if send, _ := q.receive(true, false); send != qSendNegative {
		t.Fatal("first unwanted request not refused")
	}
	if send, _ := q.receive(true, false); send != qSendNothing {
		t.Fatal("second unwanted request answered again")
	}
	// Our own request clears the refusal. The peer may be waiting for
	// the answer to its ignored request, and takes ours as that answer:
	// the option is on at once.
	if send, change := q.request(true); send != qSendPositive || change != qEnabled || q.refused() || q.state() != qYes {
		t.Fatal("request after an ignored request")
	}
	// After a refusal that was not repeated, our request is an ordinary
	// one.
	var r qSide
	r.receive(true, false)
	if send, change := r.request(true); send != qSendPositive || change != qNone || r.state() != qWantYes {
		t.Fatal("request after a refusal")
	}
}

// TestQTwoPeersNeverLoop runs two peers using this Q method against each
// other over in-order links, with each side changing its mind at random
// moments and accepting or refusing at random, and checks that traffic
// always dies down and both sides end up agreeing on whether the option
// is on.
func TestQTwoPeersNeverLoop(t *testing.T) {
	runPeers(t, 20000, false)
}

// TestQForcedNeverLoops is the same against a plain RFC 1143 client (one
// that answers every request), with the server's side forcing its requests
// until it first hears from the client, as it does for ECHO (a side that
// never agrees to the client's requests; see negotiation.request).
func TestQForcedNeverLoops(t *testing.T) {
	runPeers(t, 20000, true)
}

func runPeers(t *testing.T, rounds int, forced bool) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := range rounds {
		// a performs the option (us side), b asks for it (him side).
		var a, b qSide
		acceptA, acceptB := r.IntN(2) == 0, r.IntN(2) == 0
		if forced {
			acceptA = false
		}
		heardA := false
		var toA, toB []bool // in flight: true = positive verb
		deliver := func(q *qSide, in *[]bool, out *[]bool, accept bool) {
			if q == &a {
				heardA = true
			}
			v := (*in)[0]
			*in = (*in)[1:]
			send, _ := q.receive(v, accept)
			if forced && q == &b {
				// A plain RFC 1143 client answers every request.
				*q &^= qRefused | qIgnored
			}
			if send != qSendNothing {
				*out = append(*out, send == qSendPositive)
			}
		}
		for step := 0; step < 200 && (step < 20 || len(toA)+len(toB) > 0); step++ {
			switch r.IntN(4) {
			case 0:
				if step < 20 {
					request := a.request
					if forced && !heardA {
						request = a.force
					}
					if s, _ := request(r.IntN(2) == 0); s != qSendNothing {
						toB = append(toB, s == qSendPositive)
					}
				}
			case 1:
				if step < 20 {
					if s, _ := b.request(r.IntN(2) == 0); s != qSendNothing {
						toA = append(toA, s == qSendPositive)
					}
				}
			case 2:
				if len(toA) > 0 {
					deliver(&a, &toA, &toB, acceptA)
				}
			case 3:
				if len(toB) > 0 {
					deliver(&b, &toB, &toA, acceptB)
				}
			}
		}
		if len(toA)+len(toB) > 0 {
			t.Fatalf("round %d: still %d messages in flight after 200 steps: a loop", round, len(toA)+len(toB))
		}
		if (a.state() == qYes) != (b.state() == qYes) {
			t.Fatalf("round %d: peers disagree: %v vs %v", round, a.state(), b.state())
		}
		// A side that refuses answers a repeated request only once (see
		// qSide.receive), so the asker may be left waiting in WANTYES:
		// the option is off on both sides either way. Between two
		// agreeable peers, every request is settled.
		if acceptA && acceptB && (a.state() >= qWantNo || b.state() >= qWantNo) {
			t.Fatalf("round %d: unsettled: %v vs %v", round, a.state(), b.state())
		}
	}
}
