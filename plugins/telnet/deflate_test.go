package main

import (
	"bytes"
	"compress/zlib"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// inflateAll decompresses a whole zlib stream with Go's inflater and checks
// its checksum (io.ReadAll fails on a bad Adler-32).
func inflateAll(t testing.TB, stream []byte) []byte {
	t.Helper()
	r, err := zlib.NewReader(bytes.NewReader(stream))
	if err != nil {
		t.Fatalf("zlib header: %v", err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

// mudText is output shaped like a MUD's: prompts, room text, colour codes.
func mudText(r *rand.Rand, n int) []byte {
	words := []string{"the", "a", "sword", "goblin", "\x1b[1;31m", "\x1b[0m", "north", "You see",
		"HP:100/100 MP:50/50> ", "Bob says, \"hello\"", "\r\n", "éè", "room", "dark", "forest"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.Bytes()[:n]
}

func TestDeflateRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 100_000)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	cases := map[string][][]byte{
		"empty":          nil,
		"one empty":      {{}},
		"one byte":       {{'x'}},
		"short":          {[]byte("hello\r\n")},
		"repeats":        {bytes.Repeat([]byte("abc"), 1000)},
		"long run":       {bytes.Repeat([]byte{0}, 70_000)},
		"mud":            {mudText(r, 50_000)},
		"random":         {random},
		"random batches": {random[:10], random[10:5000], random[5000:5001], random[5001:]},
		"mud batches":    {mudText(r, 100), mudText(r, 3000), mudText(r, 40_000), []byte("HP:100/100 MP:50/50> ")},
		"iac bytes":      {bytes.Repeat([]byte{0xff, 0xff, 'a'}, 500)},
	}
	for name, batches := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDeflater()
			var stream, want []byte
			for _, b := range batches {
				stream = append(stream, d.compress(b)...)
				want = append(want, b...)
				// After each sync flush, everything so far is decodable.
				if got := inflatePrefix(t, stream); !bytes.Equal(got, want) {
					t.Fatalf("after a batch the client can read %d bytes, want %d", len(got), len(want))
				}
			}
			stream = append(stream, d.finish()...)
			if got := inflateAll(t, stream); !bytes.Equal(got, want) {
				t.Fatalf("round trip: got %d bytes, want %d", len(got), len(want))
			}
			if d.compress([]byte("more")) != nil || d.finish() != nil {
				t.Fatal("output after finish")
			}
		})
	}
}

// inflatePrefix decompresses a stream that has not ended yet, returning
// everything decodable so far.
func inflatePrefix(t testing.TB, stream []byte) []byte {
	t.Helper()
	r, err := zlib.NewReader(bytes.NewReader(stream))
	if err != nil {
		t.Fatalf("zlib header: %v", err)
	}
	out, err := io.ReadAll(r)
	if err != nil && err != io.ErrUnexpectedEOF {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

func TestDeflateRatio(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	d := newDeflater()
	var in, out int
	for range 200 {
		b := mudText(r, 80+r.IntN(400))
		in += len(b)
		out += len(d.compress(b))
	}
	ratio := float64(out) / float64(in)
	t.Logf("MUD-like output in 200 batches: %d -> %d bytes (%.2f)", in, out, ratio)
	if ratio > 0.6 {
		t.Fatalf("ratio %.2f: the matcher is not finding repeats", ratio)
	}
}

func TestDistCode(t *testing.T) {
	for d := 1; d <= 32768; d++ {
		c := distCode(d)
		if int(distBase[c]) > d || (c < 29 && int(distBase[c+1]) <= d) {
			t.Fatalf("distCode(%d) = %d", d, c)
		}
		if d-int(distBase[c]) >= 1<<distExtra[c] {
			t.Fatalf("distance %d does not fit code %d's extra bits", d, c)
		}
	}
	for l := 3; l <= 258; l++ {
		c := lengthCode[l]
		if l-int(lengthBase[c]) >= 1<<lengthExtra[c] && !(l == 258 && c == 28) {
			t.Fatalf("length %d does not fit code %d", l, c)
		}
	}
}

func FuzzDeflate(f *testing.F) {
	f.Add([]byte("hello hello hello"), uint8(3))
	f.Add(bytes.Repeat([]byte("ab"), 300), uint8(7))
	f.Add([]byte(strings.Repeat("\x1b[0m> ", 50)), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		d := newDeflater()
		var stream []byte
		step := int(cut)%64 + 1
		for rest := in; len(rest) > 0; {
			n := min(step, len(rest))
			stream = append(stream, d.compress(rest[:n])...)
			rest = rest[n:]
		}
		stream = append(stream, d.finish()...)
		if got := inflateAll(t, stream); !bytes.Equal(got, in) {
			t.Fatalf("round trip of %d bytes gave %d", len(in), len(got))
		}
	})
}

// BenchmarkMCCPSessionMemory measures what one compressed session keeps
// between output batches (its stream state after some output), for this
// encoder and for compress/zlib at a few levels, and the ratio each gets
// on MUD-like output sent in small batches. Run with -bench MCCP.
func BenchmarkMCCPSessionMemory(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	var batches [][]byte
	for range 200 {
		batches = append(batches, mudText(r, 80+r.IntN(400)))
	}
	type stream interface{ write([]byte) int }
	kinds := []struct {
		name string
		make func() stream
	}{
		{"portico", func() stream { return portico{newDeflater()} }},
		{"zlib-huffman-only", func() stream { return newZlibStream(zlib.HuffmanOnly) }},
		{"zlib-1", func() stream { return newZlibStream(1) }},
		{"zlib-6", func() stream { return newZlibStream(6) }},
		{"zlib-9", func() stream { return newZlibStream(9) }},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			const sessions = 100
			var in, out int
			var perSession float64
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				streams := make([]stream, sessions)
				in, out = 0, 0
				for i := range streams {
					streams[i] = k.make()
					for _, batch := range batches[:20] {
						in += len(batch)
						out += streams[i].write(batch)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perSession = float64(after.HeapAlloc-before.HeapAlloc) / sessions
				runtime.KeepAlive(streams)
			}
			b.ReportMetric(perSession, "bytes/session")
			b.ReportMetric(float64(out)/float64(in), "ratio")
		})
	}
}

type portico struct{ d *deflater }

func (p portico) write(b []byte) int { return len(p.d.compress(b)) }

type zlibStream struct {
	buf bytes.Buffer
	w   *zlib.Writer
}

func newZlibStream(level int) *zlibStream {
	z := &zlibStream{}
	z.w, _ = zlib.NewWriterLevel(&z.buf, level)
	return z
}

func (z *zlibStream) write(b []byte) int {
	z.buf.Reset()
	z.w.Write(b)
	z.w.Flush()
	return z.buf.Len()
}
