package main

import (
	"bytes"
	"hash/fnv"
	"testing"

	"github.com/portico-mud/portico/plugins/telnet/codec"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/wire"
)

// maxNegotiationFuzzInput bounds the fuzz inputs: every state here is
// reachable in a few hundred bytes, and the fuzzer minimises every new
// input with a quadratic number of runs, which stalls it on long ones.
const maxNegotiationFuzzInput = 512

// maxOutputPerEvent bounds what one client event may make the server send:
// the MSSP table is the largest answer.
const maxOutputPerEvent = 2048

// FuzzNegotiation drives the negotiation layer (Q method, TTYPE, NAWS,
// CHARSET, MCCP2, MSSP, MXP) and the GMCP and MSDP decoders in two ways.
//
// First the input is a hostile client's byte stream, interleaved with the
// game's echo requests (data bytes 0x01 and 0x02 stand for echo off and
// on): no panic, a bounded answer to each event, and inputs decoded from
// GMCP/MSDP have usable names and can cross the contract.
//
// Then the same bytes are a schedule for a client that follows RFC 1143:
// which options it asks for or drops, when the game changes echo, which
// side's messages arrive next. Whatever the schedule, once it ends the
// traffic dies down (no loop) and both sides agree on which options are on.
func FuzzNegotiation(f *testing.F) {
	for _, s := range []string{
		"",
		answers(optSGA, optNAWS, optTTYPE, optEOR, optCharset, optMCCP2, optMSSP, optMSDP, optGMCP, optMXP),
		iac + will + optTTYPE + subneg(optTTYPE, "\x00TinTin++") + subneg(optTTYPE, "\x00XTERM") + subneg(optTTYPE, "\x00MTTS 2825"),
		iac + will + optNAWS + subneg(optNAWS, "\x00\xff\xff\x00\x18"),
		iac + do + optCharset + subneg(optCharset, "\x02UTF-8") + iac + will + optCharset + subneg(optCharset, "\x01;UTF-8"),
		iac + do + echo + iac + do + echo + "\x01\x02\x01" + iac + dont + echo,
		"\x01\x02\x01\x02" + iac + do + echo + iac + dont + echo + iac + do + echo,
		iac + do + optMCCP2 + iac + dont + optMCCP2 + iac + do + optMCCP2,
		subneg(optGMCP, `Core.Hello {"client":"Mudlet","version":"4.17"}`) + subneg(optGMCP, "Char.Login [1,2]"),
		subneg(optMSDP, "\x01LIST\x02COMMANDS\x01n\x02\x03\x01k\x02\x05\x02a\x06\x04"),
		iac + will + "\x27" + iac + wont + "\x27" + iac + will + "\x27" + iac + dont + "\x27",
		subneg(optLinemode, "\x01\x07") + iac + will + optLinemode,
		// Schedules: echo off/on before the client speaks, then answers.
		"\x01\x00\x01\x01\x01\x00\x02\x00\x02\x00\x03\x00\x03\x00\x03\x00",
		"\x00\x07\x00\x08\x03\x00\x02\x00\x00\x07\x02\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > maxNegotiationFuzzInput {
			return
		}
		hostileClient(t, in)
		scheduledClient(t, in)
	})
}

// hostileClient feeds in to the server as a client's byte stream.
func hostileClient(t *testing.T, in []byte) {
	out := &fuzzSink{}
	n := newNegotiation(defaultPolicy(), out)
	n.start()
	var p codec.Parser
	p.Feed(in, func(ev codec.Event) {
		before := out.sent.Len()
		switch ev.Kind {
		case codec.EventNegotiation:
			n.receive(ev.Command, ev.Option)
		case codec.EventSubneg:
			checkInputs(t, ev.Option, n.subneg(ev.Option, ev.Data))
		case codec.EventData:
			for _, c := range ev.Data {
				switch c {
				case 0x01:
					n.request(codec.OptEcho, sideUs, true)
				case 0x02:
					n.request(codec.OptEcho, sideUs, false)
				}
			}
		}
		if d := out.sent.Len() - before; d > maxOutputPerEvent {
			t.Fatalf("one event made the server send %d bytes", d)
		}
		n.checkDone()
	})
}

// scheduleOptions are the options a scheduled client plays with: every
// one the server knows, and one it does not (NEW-ENVIRON).
var scheduleOptions = []byte{codec.OptLinemode, codec.OptSGA, codec.OptNAWS, codec.OptTTYPE, codec.OptEOR,
	codec.OptCharset, codec.OptMCCP2, codec.OptMSSP, codec.OptMSDP, codec.OptGMCP, codec.OptMXP, codec.OptEcho, 39}

// scheduledClient reads in as pairs (action, argument) and plays them
// between the server and an RFC 1143 client, then lets every message
// arrive and checks the two sides settle and agree.
func scheduledClient(t *testing.T, in []byte) {
	out := &fuzzSink{}
	n := newNegotiation(defaultPolicy(), out)
	n.start()
	client := newModelClient(in)
	var toServer, toClient [][3]byte
	takeServerOutput := func() {
		var p codec.Parser
		p.Feed(out.sent.Bytes(), func(ev codec.Event) {
			if ev.Kind == codec.EventNegotiation {
				toClient = append(toClient, [3]byte{codec.IAC, ev.Command, ev.Option})
			}
		})
		out.sent.Reset()
	}
	deliverToServer := func() {
		m := toServer[0]
		toServer = toServer[1:]
		n.receive(m[1], m[2])
		takeServerOutput()
	}
	takeServerOutput()
	for i := 0; i+1 < len(in); i += 2 {
		action, arg := in[i], in[i+1]
		switch action % 4 {
		case 0: // the client asks for an option on or off
			opt := scheduleOptions[int(arg)%len(scheduleOptions)]
			s := int(arg>>4) & 1
			on := arg&0x80 != 0
			if verb, ok := client.request(opt, s, on); ok {
				toServer = append(toServer, [3]byte{codec.IAC, verb, opt})
			}
		case 1: // the game turns echo off or on
			n.request(codec.OptEcho, sideUs, arg&1 == 1)
			takeServerOutput()
		case 2:
			if len(toServer) > 0 {
				deliverToServer()
			}
		case 3:
			if len(toClient) > 0 {
				m := toClient[0]
				toClient = toClient[1:]
				toServer = append(toServer, splitVerbs(client.hear(m[:]))...)
			}
		}
	}
	for steps := 0; len(toServer)+len(toClient) > 0; steps++ {
		if steps > 10000 {
			t.Fatalf("still %d messages in flight after %d deliveries: a loop", len(toServer)+len(toClient), steps)
		}
		if len(toServer) > 0 && (steps%2 == 0 || len(toClient) == 0) {
			deliverToServer()
		} else {
			m := toClient[0]
			toClient = toClient[1:]
			toServer = append(toServer, splitVerbs(client.hear(m[:]))...)
		}
	}
	for _, opt := range scheduleOptions {
		// The server's own options are the client's "him" side.
		if (n.state(opt, sideUs) == qYes) != (client.q[opt][1].state() == qYes) ||
			(n.state(opt, sideHim) == qYes) != (client.q[opt][0].state() == qYes) {
			t.Fatalf("option %d: server us %v him %v, client us %v him %v", opt,
				n.state(opt, sideUs), n.state(opt, sideHim), client.q[opt][0].state(), client.q[opt][1].state())
		}
	}
}

// splitVerbs cuts a run of IAC verb option triples.
func splitVerbs(b []byte) [][3]byte {
	var out [][3]byte
	for i := 0; i+2 < len(b); i += 3 {
		out = append(out, [3]byte{b[i], b[i+1], b[i+2]})
	}
	return out
}

// checkInputs checks what a subnegotiation gave as input.
func checkInputs(t *testing.T, opt byte, msgs []contract.Message) {
	t.Helper()
	if len(msgs) > 0 && opt != codec.OptGMCP && opt != codec.OptMSDP {
		t.Fatalf("option %d produced input %v", opt, msgs)
	}
	for _, m := range msgs {
		if m.Name == "" || len(m.Name) > maxOOBName+len("msdp_") {
			t.Fatalf("input name %q", m.Name)
		}
		if _, err := wire.MessageToPB(m); err != nil {
			t.Fatalf("input %#v cannot cross the contract: %v", m, err)
		}
		// What goes out must come back in one piece too.
		_ = encodeGMCP(m)
		_ = encodeMSDP(m)
	}
}

// fuzzSink is a sink that keeps what the server sends.
type fuzzSink struct {
	sent bytes.Buffer
}

func (s *fuzzSink) send(b []byte)               { s.sent.Write(b) }
func (s *fuzzSink) compress(bool)               {}
func (s *fuzzSink) flagsChanged(map[string]any) {}
func (s *fuzzSink) msspTable() []msspVar        { return msspTable(msspInfo{}) }

// modelClient is a client that follows RFC 1143 for every option (without
// this server's refuse-once rule: it answers every request), agreeing to
// options by a fixed pattern drawn from the fuzz input.
type modelClient struct {
	q      [256][2]qSide
	accept [256][2]bool
}

func newModelClient(seed []byte) *modelClient {
	h := fnv.New64a()
	h.Write(seed)
	bitsv := h.Sum64()
	c := &modelClient{}
	for i := range 256 {
		c.accept[i][0] = bitsv>>(i%64)&1 == 1
		c.accept[i][1] = bitsv>>((i+17)%64)&1 == 1
	}
	return c
}

// request has the client ask for opt on side s (0: its own, 1: the
// server's) to be on or off, per RFC 1143; it returns the verb to send.
func (c *modelClient) request(opt byte, s int, on bool) (byte, bool) {
	send, _ := c.q[opt][s].request(on)
	if send == qSendNothing {
		return 0, false
	}
	return clientVerb(s, send), true
}

func clientVerb(s int, send qAnswer) byte {
	switch {
	case s == 0 && send == qSendPositive:
		return codec.WILL
	case s == 0:
		return codec.WONT
	case send == qSendPositive:
		return codec.DO
	}
	return codec.DONT
}

// hear takes the server's bytes and returns the client's answers.
func (c *modelClient) hear(b []byte) []byte {
	var out []byte
	var p codec.Parser
	p.Feed(b, func(ev codec.Event) {
		if ev.Kind != codec.EventNegotiation {
			return
		}
		// The server's WILL/WONT concern the client's him side (index 1),
		// its DO/DONT the client's own (index 0).
		var s int
		positive := ev.Command == codec.WILL || ev.Command == codec.DO
		if ev.Command == codec.WILL || ev.Command == codec.WONT {
			s = 1
		}
		q := &c.q[ev.Option][s]
		send, _ := q.receive(positive, c.accept[ev.Option][s])
		*q &^= qRefused | qIgnored
		if send == qSendNothing {
			return
		}
		out = append(out, codec.IAC, clientVerb(s, send), ev.Option)
	})
	return out
}
