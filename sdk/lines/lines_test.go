package lines

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// got is one call to emit, copied so it outlives the call.
type got struct {
	Line    string
	TooLong bool
}

func (g got) String() string {
	if g.TooLong {
		return fmt.Sprintf("%q(too long)", g.Line)
	}
	return fmt.Sprintf("%q", g.Line)
}

// feedAll feeds each chunk in turn to a fresh splitter with the given limit
// and returns what was emitted and what is left pending.
func feedAll(max int, chunks ...[]byte) ([]got, int) {
	s := &Splitter{Max: max}
	var out []got
	for _, c := range chunks {
		s.Feed(c, func(line []byte, tooLong bool) {
			out = append(out, got{string(line), tooLong})
		})
	}
	return out, s.Pending()
}

// model is a deliberately naive splitter over the whole stream, used as the
// specification the real one is checked against.
func model(max int, data []byte) ([]got, int) {
	var out []got
	var line []byte
	finish := func() {
		if max > 0 && len(line) > max {
			out = append(out, got{string(line[:max]), true})
		} else {
			out = append(out, got{string(line), false})
		}
		line = line[:0]
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c != '\r' && c != '\n' {
			line = append(line, c)
			continue
		}
		finish()
		if i+1 < len(data) && (data[i+1] == '\r' || data[i+1] == '\n') && data[i+1] != c {
			i++ // the complement belongs to this terminator
		}
	}
	if max > 0 && len(line) > max {
		out = append(out, got{string(line[:max]), true})
		return out, 0
	}
	return out, len(line)
}

func ok(lines ...string) []got {
	out := make([]got, len(lines))
	for i, l := range lines {
		out[i] = got{Line: l}
	}
	return out
}

func TestFeedTable(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		in      string
		want    []got
		pending int
	}{
		{"empty input", 0, "", nil, 0},
		{"partial only", 0, "abc", nil, 3},
		{"LF", 0, "look\n", ok("look"), 0},
		{"CR", 0, "look\r", ok("look"), 0},
		{"CRLF", 0, "look\r\n", ok("look"), 0},
		{"LFCR", 0, "look\n\r", ok("look"), 0},
		{"two CRLF lines", 0, "a\r\nb\r\n", ok("a", "b"), 0},
		{"two LFCR lines", 0, "a\n\rb\n\r", ok("a", "b"), 0},
		{"empty line LF", 0, "a\n\nb\n", ok("a", "", "b"), 0},
		{"empty line CR", 0, "a\r\rb\r", ok("a", "", "b"), 0},
		{"empty line CRLF", 0, "a\r\n\r\nb\r\n", ok("a", "", "b"), 0},
		{"empty line LFCR", 0, "a\n\r\n\rb\n\r", ok("a", "", "b"), 0},
		{"CRLF then LF", 0, "a\r\n\n", ok("a", ""), 0},
		{"LF CR LF is a pair then a line", 0, "a\n\r\n", ok("a", ""), 0},
		{"CR LF CR is a pair then a line", 0, "a\r\n\r", ok("a", ""), 0},
		{"lone terminators", 0, "\n", ok(""), 0},
		{"lone pair", 0, "\r\n", ok(""), 0},
		{"mixed", 0, "n\r\ns\n\re\rw\nup\r\n\rdown", ok("n", "s", "e", "w", "up", ""), 4},
		{"partial after lines", 0, "say hi\r\nsay th", ok("say hi"), 6},
		{"NUL passes through", 0, "\x00\r\na\x00b\n", ok("\x00", "a\x00b"), 0},
		{"high bytes pass", 0, "\xff\xfe\xc3\xa9\n", ok("\xff\xfe\xc3\xa9"), 0},
		{"max exactly", 5, "abcde\n", ok("abcde"), 0},
		{"max exactly CRLF", 5, "abcde\r\nfghij\r\n", ok("abcde", "fghij"), 0},
		{"max exactly partial", 5, "abcde", nil, 5},
		{"max plus one", 5, "abcdef\n", []got{{"abcde", true}}, 0},
		{"too long then ok", 3, "abcdefgh\r\nxyz\r\n", []got{{"abc", true}, {"xyz", false}}, 0},
		{"too long unterminated", 3, "abcdefgh", []got{{"abc", true}}, 0},
		{"too long then partial", 3, "abcdefgh\nxy", []got{{"abc", true}}, 2},
		{"too long LFCR swallowed", 2, "abc\n\rd\n", []got{{"ab", true}, {"d", false}}, 0},
		{"empty lines under max", 1, "\n\n", ok("", ""), 0},
		{"unlimited big", 0, strings.Repeat("x", 10000) + "\n", ok(strings.Repeat("x", 10000)), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, pending := feedAll(tt.max, []byte(tt.in))
			if !reflect.DeepEqual(out, tt.want) {
				t.Errorf("lines = %v, want %v", out, tt.want)
			}
			if pending != tt.pending {
				t.Errorf("Pending() = %d, want %d", pending, tt.pending)
			}
			mout, mpending := model(tt.max, []byte(tt.in))
			if !reflect.DeepEqual(mout, tt.want) || mpending != tt.pending {
				t.Errorf("model disagrees with table: %v pending %d", mout, mpending)
			}
		})
	}
}

// samples are streams whose every split point is checked.
var samples = []struct {
	max int
	in  string
}{
	{0, "a\r\nb\n\rc\rd\ne\r\n\r\nf"},
	{0, "\r\n\n\r\r\r\n\n\n\r"},
	{0, "look\r\nsay hello there\r\n\x00\r\nquit\n"},
	{4, "abcd\r\nabcdef\r\nab\n\rabcde\rx\n"},
	{1, "\n\rab\r\n\r\na\rbc"},
	{3, "toolongline\n\r\nok\r\n\r"},
}

func TestSplitEveryPoint(t *testing.T) {
	for _, sm := range samples {
		data := []byte(sm.in)
		whole, wholePending := feedAll(sm.max, data)
		// One split at every position.
		for i := 0; i <= len(data); i++ {
			out, pending := feedAll(sm.max, data[:i], data[i:])
			if !reflect.DeepEqual(out, whole) || pending != wholePending {
				t.Errorf("max=%d %q split at %d: %v pending %d, whole gave %v pending %d",
					sm.max, sm.in, i, out, pending, whole, wholePending)
			}
		}
		// Two splits at every pair of positions, which puts each half of
		// every CR LF pair into its own call.
		for i := 0; i <= len(data); i++ {
			for j := i; j <= len(data); j++ {
				out, pending := feedAll(sm.max, data[:i], data[i:j], data[j:])
				if !reflect.DeepEqual(out, whole) || pending != wholePending {
					t.Fatalf("max=%d %q split at %d,%d: %v, whole gave %v", sm.max, sm.in, i, j, out, whole)
				}
			}
		}
		// One byte per call.
		var chunks [][]byte
		for i := range data {
			chunks = append(chunks, data[i:i+1])
		}
		if out, pending := feedAll(sm.max, chunks...); !reflect.DeepEqual(out, whole) || pending != wholePending {
			t.Errorf("max=%d %q byte by byte: %v, whole gave %v", sm.max, sm.in, out, whole)
		}
		if mout, mpending := model(sm.max, data); !reflect.DeepEqual(mout, whole) || mpending != wholePending {
			t.Errorf("max=%d %q: model %v pending %d, splitter %v pending %d", sm.max, sm.in, mout, mpending, whole, wholePending)
		}
	}
}

func TestPairAcrossFeeds(t *testing.T) {
	// The explicit cases from the contract: after a CR the next call's LF
	// is swallowed, and vice versa, but only as that call's first byte.
	tests := []struct {
		chunks []string
		want   []got
	}{
		{[]string{"a\r", "\nb\n"}, ok("a", "b")},
		{[]string{"a\n", "\rb\n"}, ok("a", "b")},
		{[]string{"a\r", "\r\n"}, ok("a", "")},
		{[]string{"a\r", "", "\nb\r"}, ok("a", "b")},
		{[]string{"a\r", "x", "\n"}, ok("a", "x")},
	}
	for _, tt := range tests {
		var chunks [][]byte
		for _, c := range tt.chunks {
			chunks = append(chunks, []byte(c))
		}
		if out, _ := feedAll(0, chunks...); !reflect.DeepEqual(out, tt.want) {
			t.Errorf("%q: %v, want %v", tt.chunks, out, tt.want)
		}
	}
}

func TestHostileLongLine(t *testing.T) {
	const max = 6000 // Evennia's MAX_CHAR_LIMIT
	s := &Splitter{Max: max}
	var out []got
	emit := func(line []byte, tooLong bool) {
		if len(line) > max {
			t.Fatalf("emitted %d bytes, Max is %d", len(line), max)
		}
		out = append(out, got{string(line), tooLong})
	}
	long := bytes.Repeat([]byte("A"), 100<<10)
	// Arrive in odd-sized packets, as from a real socket.
	in := append(append([]byte{}, long...), "\r\nlook\r\n"...)
	for len(in) > 0 {
		n := min(1357, len(in))
		s.Feed(in[:n], emit)
		in = in[n:]
		if s.Pending() > max || cap(s.buf) > max {
			t.Fatalf("Pending() = %d, cap %d, Max %d", s.Pending(), cap(s.buf), max)
		}
	}
	want := []got{{strings.Repeat("A", max), true}, {"look", false}}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("got %d lines (first %d bytes), want the truncated line then look", len(out), len(out[0].Line))
	}
}

func TestTenMegabytesWithoutTerminator(t *testing.T) {
	const max = 6000
	s := &Splitter{Max: max}
	calls, tooLong := 0, 0
	emit := func(line []byte, tl bool) {
		calls++
		if tl {
			tooLong++
		}
		if len(line) > max {
			t.Fatalf("emitted %d bytes", len(line))
		}
	}
	chunk := bytes.Repeat([]byte("z"), 4096)
	for sent := 0; sent < 10<<20; sent += len(chunk) {
		s.Feed(chunk, emit)
		if s.Pending() > max || cap(s.buf) > max {
			t.Fatalf("after %d bytes Pending() = %d, cap %d", sent, s.Pending(), cap(s.buf))
		}
	}
	if calls != 1 || tooLong != 1 {
		t.Fatalf("emit called %d times (%d too long), want once, too long", calls, tooLong)
	}
	// The stream recovers at the next terminator.
	var next []got
	s.Feed([]byte("\nnext\n"), func(line []byte, tl bool) { next = append(next, got{string(line), tl}) })
	if !reflect.DeepEqual(next, ok("next")) {
		t.Fatalf("after recovery got %v", next)
	}
}

func TestLinearTime(t *testing.T) {
	// A packet of nothing but empty lines must cost time linear in its
	// size; the bound is generous and only catches a quadratic scan.
	in := bytes.Repeat([]byte("\n"), 2<<20)
	start := time.Now()
	n := 0
	(&Splitter{Max: 6000}).Feed(in, func([]byte, bool) { n++ })
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("2 MB of terminators took %v", d)
	}
	if want := 2 << 20; n != want {
		t.Fatalf("%d lines, want %d", n, want)
	}
}

func TestMaxLoweredMidLine(t *testing.T) {
	s := &Splitter{}
	s.Feed([]byte("abcdef"), func([]byte, bool) { t.Fatal("unexpected emit") })
	s.Max = 3
	var out []got
	s.Feed([]byte("g\nh\n"), func(line []byte, tl bool) { out = append(out, got{string(line), tl}) })
	want := []got{{"abc", true}, {"h", false}}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("got %v, want %v", out, want)
	}
}

func TestUnlimitedBufferReleased(t *testing.T) {
	s := &Splitter{}
	s.Feed(bytes.Repeat([]byte("x"), 1<<20), func([]byte, bool) {})
	s.Feed([]byte("\n"), func([]byte, bool) {})
	if cap(s.buf) > shrinkAbove {
		t.Fatalf("buffer of %d bytes kept after a huge line", cap(s.buf))
	}
}

func TestSteadyStateAllocs(t *testing.T) {
	emit := func([]byte, bool) {}
	s := &Splitter{Max: 6000}
	whole := []byte("say hello everyone\r\nlook\r\n")
	head, tail := []byte("say hello ev"), []byte("eryone\r\n")
	s.Feed(head, emit)
	s.Feed(tail, emit) // warm the buffer
	if n := testing.AllocsPerRun(1000, func() { s.Feed(whole, emit) }); n != 0 {
		t.Errorf("whole lines: %v allocs per Feed", n)
	}
	if n := testing.AllocsPerRun(1000, func() { s.Feed(head, emit); s.Feed(tail, emit) }); n != 0 {
		t.Errorf("split lines: %v allocs per line", n)
	}
}

func BenchmarkSplitter(b *testing.B) {
	// A typical packet: several short commands, the last one split across
	// packets, so both the zero-copy and the buffered path are measured.
	packet := []byte("look\r\nsay Hello there, how are you?\r\nget sword\r\nnorth\r\ninventory\r\nsay and the l")
	rest := []byte("ast one\r\n")
	const linesPerIter = 6
	s := &Splitter{Max: 6000}
	n := 0
	emit := func(line []byte, tooLong bool) { n += len(line) }
	b.SetBytes(int64(len(packet) + len(rest)))
	b.ReportAllocs()
	for b.Loop() {
		s.Feed(packet, emit)
		s.Feed(rest, emit)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*linesPerIter), "ns/line")
}

func ExampleSplitter() {
	s := &Splitter{Max: 10}
	emit := func(line []byte, tooLong bool) {
		if tooLong {
			fmt.Printf("too long: %q\n", line)
			return
		}
		fmt.Printf("line: %q\n", line)
	}
	s.Feed([]byte("look\r\nsay hel"), emit)
	s.Feed([]byte("lo\r"), emit)
	s.Feed([]byte("\nthis line is far too long\r\n"), emit)
	fmt.Println("pending:", s.Pending())
	// Output:
	// line: "look"
	// line: "say hello"
	// too long: "this line "
	// pending: 0
}

// TestRelease checks that Release drops the buffer only while it holds no
// partial line, and that the splitter goes on working either way.
func TestRelease(t *testing.T) {
	s := Splitter{Max: 100}
	var got []string
	emit := func(line []byte, _ bool) { got = append(got, string(line)) }
	s.Feed([]byte("lo"), emit)
	s.Release()
	if s.Pending() != 2 || cap(s.buf) == 0 {
		t.Fatal("Release dropped a partial line")
	}
	s.Feed([]byte("ok\r\n"), emit)
	if cap(s.buf) == 0 {
		t.Fatal("the buffer is gone before Release")
	}
	s.Release()
	if s.buf != nil {
		t.Fatalf("Release kept an empty buffer of %d bytes", cap(s.buf))
	}
	s.Feed([]byte("sa"), emit)
	s.Feed([]byte("y hi\n"), emit)
	if len(got) != 2 || got[0] != "look" || got[1] != "say hi" {
		t.Fatalf("lines = %q", got)
	}
}
