package codec

import (
	"reflect"
	"testing"
)

// maxFuzzInput bounds the inputs the fuzz target checks.
const maxFuzzInput = 512

// FuzzParser checks, for arbitrary input: no panic; the subnegotiation
// buffer stays within MaxSubneg; the events do not depend on how the stream
// is cut into calls; and EscapeText's output parses back to the original
// text with bare LF turned into CR LF.
func FuzzParser(f *testing.F) {
	for _, s := range streams {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		"",
		iac,
		"look\r\n",
		"a\r\x00b\r",
		cat(sb(OptGMCP), "Core.Hello {\"client\":\"x\"}", se),
		cat(sb(OptGMCP), "0123456789abcdefXYZ", se, "tail"), // over the fuzz bound
		str(IAC, SB),
		str(IAC, WILL),
		str(IAC, IAC, IAC),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// Every check is linear, but the fuzzer minimises each new
		// interesting input with a quadratic number of candidates, for up
		// to a minute, and on inputs of a few KB that stalled it. No
		// state here needs more than a few hundred bytes to reach.
		if len(in) > maxFuzzInput {
			return
		}
		for _, max := range []int{0, 16} {
			checkParser(t, max, in)
		}
		checkRoundTrip(t, string(in))
	})
}

func checkParser(t *testing.T, maxSubneg int, in []byte) {
	t.Helper()
	bound := maxSubneg
	if bound <= 0 {
		bound = DefaultMaxSubneg
	}
	run := func(chunk func(rest []byte) int) []ev {
		p := &Parser{MaxSubneg: maxSubneg}
		var c collector
		emit := func(e Event) {
			if e.Kind == EventSubneg && len(e.Data) > bound {
				t.Fatalf("subnegotiation of %d bytes, bound %d", len(e.Data), bound)
			}
			c.emit(e)
		}
		for rest := in; len(rest) > 0; {
			n := chunk(rest)
			p.Feed(rest[:n], emit)
			rest = rest[n:]
			if len(p.sb) > bound || cap(p.sb) > bound {
				t.Fatalf("subnegotiation buffer len %d cap %d, bound %d", len(p.sb), cap(p.sb), bound)
			}
		}
		return c.result()
	}

	whole := run(func(rest []byte) int { return len(rest) })
	if bytewise := run(func([]byte) int { return 1 }); !reflect.DeepEqual(whole, bytewise) {
		t.Fatalf("MaxSubneg %d: whole %v\n!= byte by byte %v", maxSubneg, whole, bytewise)
	}
	// Uneven cuts from a small generator seeded by the input.
	seed := uint32(len(in))*2654435761 + 1
	for _, c := range in {
		seed = seed*31 + uint32(c)
	}
	uneven := run(func(rest []byte) int {
		seed ^= seed << 13
		seed ^= seed >> 17
		seed ^= seed << 5
		return min(len(rest), int(seed%9)+1)
	})
	if !reflect.DeepEqual(whole, uneven) {
		t.Fatalf("MaxSubneg %d: whole %v\n!= uneven %v", maxSubneg, whole, uneven)
	}
}

// checkRoundTrip escapes text for the wire and parses it back: the result
// must be pure data equal to text with each bare LF turned into CR LF.
func checkRoundTrip(t *testing.T, text string) {
	t.Helper()
	var want []byte
	for i := 0; i < len(text); i++ {
		if text[i] == '\n' && (i == 0 || text[i-1] != '\r') {
			want = append(want, '\r')
		}
		want = append(want, text[i])
	}
	wire := EscapeText(nil, text)
	var got []byte
	var p Parser
	p.Feed(wire, func(e Event) {
		if e.Kind != EventData {
			t.Fatalf("escaped text %q produced %v", text, copyEvent(e))
		}
		got = append(got, e.Data...)
	})
	if string(got) != string(want) {
		t.Fatalf("round trip of %q: wire %q parsed to %q, want %q", text, wire, got, want)
	}
}
