package lines

import (
	"bytes"
	"reflect"
	"testing"
)

// maxFuzzInput bounds the inputs the fuzz target checks.
const maxFuzzInput = 512

// FuzzSplitter checks the splitter's invariants on arbitrary input: nothing
// buffered or emitted exceeds Max, no emitted line contains a terminator, the
// result does not depend on how the stream is cut into calls, and it matches
// the naive model.
func FuzzSplitter(f *testing.F) {
	for _, seed := range []string{
		"",
		"look\r\n",
		"a\n\nb\n",
		"a\r\n\r\nb\n\r\n\rc\rd",
		"\r\n\n\r\r\r\n\n\n\r",
		"\x05toolongline\n\r\nok\r\n\r",
		"\x00\r\n\x00\n\r\x00",
		"\x10" + string(bytes.Repeat([]byte("x"), 300)) + "\r\nok\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Every check is linear, but the fuzzer minimises each new
		// interesting input with a quadratic number of candidates, for up
		// to a minute, and on inputs of a few KB that stalled it. No
		// state here needs more than a few hundred bytes to reach.
		if len(data) > maxFuzzInput {
			return
		}
		// The limit comes from the input so the fuzzer explores it too;
		// the unlimited splitter is checked on every input as well.
		maxes := []int{0}
		if len(data) > 0 {
			maxes = append(maxes, int(data[0]%24))
		}
		for _, max := range maxes {
			checkSplitter(t, max, data)
		}
	})
}

func checkSplitter(t *testing.T, max int, data []byte) {
	t.Helper()
	run := func(chunk func(rest []byte) int) ([]got, int) {
		s := &Splitter{Max: max}
		var out []got
		emit := func(line []byte, tooLong bool) {
			if max > 0 && len(line) > max {
				t.Fatalf("max %d: emitted %d bytes", max, len(line))
			}
			if bytes.IndexAny(line, "\r\n") >= 0 {
				t.Fatalf("emitted line %q contains a terminator", line)
			}
			if tooLong && len(line) != max {
				t.Fatalf("max %d: too-long line has %d bytes", max, len(line))
			}
			out = append(out, got{string(line), tooLong})
		}
		for rest := data; len(rest) > 0; {
			n := chunk(rest)
			s.Feed(rest[:n], emit)
			rest = rest[n:]
			if max > 0 && (s.Pending() > max || cap(s.buf) > max) {
				t.Fatalf("max %d: Pending() = %d, cap %d", max, s.Pending(), cap(s.buf))
			}
		}
		return out, s.Pending()
	}

	whole, wholePending := run(func(rest []byte) int { return len(rest) })
	bytewise, bytePending := run(func([]byte) int { return 1 })
	// Uneven cuts from a small generator seeded by the input, so different
	// inputs are cut differently but each run is reproducible.
	seed := uint32(len(data))*2654435761 + 1
	for _, c := range data {
		seed = seed*31 + uint32(c)
	}
	uneven, unevenPending := run(func(rest []byte) int {
		seed ^= seed << 13
		seed ^= seed >> 17
		seed ^= seed << 5
		return min(len(rest), int(seed%7)+1)
	})
	if !reflect.DeepEqual(whole, bytewise) || wholePending != bytePending {
		t.Fatalf("max %d: whole %v (pending %d) != byte by byte %v (pending %d)", max, whole, wholePending, bytewise, bytePending)
	}
	if !reflect.DeepEqual(whole, uneven) || wholePending != unevenPending {
		t.Fatalf("max %d: whole %v (pending %d) != uneven %v (pending %d)", max, whole, wholePending, uneven, unevenPending)
	}
	if mout, mpending := model(max, data); !reflect.DeepEqual(whole, mout) || wholePending != mpending {
		t.Fatalf("max %d: splitter %v (pending %d) != model %v (pending %d)", max, whole, wholePending, mout, mpending)
	}
}
