// Package lines splits a byte stream into lines the way MUD clients send them.
//
// Line-based protocol plugins (telnet, SSH, raw TCP) share this splitter so
// that every one of them agrees on what a line is: a line ends at CR, at LF,
// or at either pair CR LF / LF CR, which counts as a single terminator. This
// mirrors Evennia's telnet input handling, which splits on "\r\n", "\n\r",
// "\n" and "\r" and buffers a partial line until the rest arrives.
//
// The package only splits. It must not decode character sets, strip or
// interpret control bytes (a lone NUL is Evennia's "idle" keepalive and is
// passed through for the caller to judge), write anything to the client or
// do I/O of its own. Telling the client that a line was too long is the
// caller's job; the splitter only bounds memory and reports the fact.
package lines

// shrinkAbove is the buffer capacity above which an unlimited splitter drops
// its buffer after a line, so one huge line does not pin memory for the rest
// of the connection.
const shrinkAbove = 64 << 10

// minBuffer is the smallest buffer a splitter allocates, so short partial
// lines do not cause a series of tiny reallocations.
const minBuffer = 128

// Splitter turns a stream of byte chunks into lines. The zero value is ready
// to use and has no length limit.
//
// A Splitter keeps state between calls to Feed (a partial line and whether
// the previous chunk ended in half of a CR LF / LF CR pair), so one Splitter
// belongs to one connection. It is not safe for concurrent use.
type Splitter struct {
	// Max is the maximum line length in bytes, not counting the terminator.
	// Zero or a negative value means unlimited, which leaves memory use up
	// to the peer; network-facing callers should always set it.
	Max int

	// buf holds the start of a line whose terminator has not arrived yet.
	// With Max > 0 its length and capacity never exceed Max.
	buf []byte

	// prev is the terminator (CR or LF) that ended the last line, kept so
	// that its complement arriving first in the next chunk is swallowed
	// rather than read as an empty line. It is 0 once any other byte has
	// been seen.
	prev byte

	// discarding is set after an over-long line has been reported and
	// lasts until that line's terminator: the bytes in between are dropped.
	discarding bool
}

// Feed appends data to the stream and calls emit once for each line it
// completes, in order, without the line's terminator.
//
// A line ends at CR or LF. A terminator immediately followed by its
// complement (CR LF or LF CR) counts once, even when the two bytes arrive in
// different calls to Feed. Bytes after the last terminator are buffered until
// more data comes. NUL and every other byte except CR and LF are part of the
// line.
//
// When a line grows beyond Max bytes, emit is called at once with the first
// Max bytes and tooLong set, and the rest of that line, up to and including
// its terminator, is discarded without a further call. The report comes as
// soon as the excess arrives rather than at the terminator so that a peer
// streaming megabytes without a newline is told (and can be dropped) early,
// and so that nothing beyond Max bytes is ever held.
//
// The line slice passed to emit may alias data or the splitter's internal
// buffer: it is valid only during that call, and emit must neither keep nor
// modify it (copy it, or convert it to a string, to keep it). emit must not
// call Feed on the same Splitter.
func (s *Splitter) Feed(data []byte, emit func(line []byte, tooLong bool)) {
	for len(data) > 0 {
		if s.prev != 0 {
			// The second half of a CR LF or LF CR pair ends nothing: it
			// belongs to the terminator already acted on.
			first := data[0]
			complement := (s.prev == '\r' && first == '\n') || (s.prev == '\n' && first == '\r')
			s.prev = 0
			if complement {
				data = data[1:]
				continue
			}
		}

		i := indexTerminator(data)
		if i < 0 {
			s.add(data, emit)
			return
		}

		if len(s.buf) == 0 && !s.discarding && (s.Max <= 0 || i <= s.Max) {
			// The whole line is inside data: hand it over without copying.
			// This is the common case and keeps steady-state input free of
			// allocations and copies.
			emit(data[:i], false)
		} else {
			s.add(data[:i], emit)
			if !s.discarding {
				emit(s.buf, false)
			}
			s.endLine()
		}
		s.discarding = false
		s.prev = data[i]
		data = data[i+1:]
	}
}

// Release drops the splitter's buffer while it holds no partial line (the
// next one allocates it again), so that a connection at rest keeps none.
func (s *Splitter) Release() {
	if len(s.buf) == 0 {
		s.buf = nil
	}
}

// Pending returns the number of bytes buffered for a line whose terminator
// has not arrived yet. With Max > 0 it never exceeds Max; it is 0 while the
// excess of an over-long line is being discarded.
func (s *Splitter) Pending() int {
	return len(s.buf)
}

// add appends part of a line that is not yet terminated, or reports and
// starts discarding the line once it would exceed Max.
func (s *Splitter) add(chunk []byte, emit func(line []byte, tooLong bool)) {
	if s.discarding || len(chunk) == 0 {
		return
	}
	if s.Max <= 0 || len(s.buf)+len(chunk) <= s.Max {
		s.append(chunk)
		return
	}

	var line []byte
	switch keep := s.Max - len(s.buf); {
	case len(s.buf) == 0:
		// Nothing buffered: report straight from the input, no copy.
		line = chunk[:s.Max]
	case keep > 0:
		s.append(chunk[:keep])
		line = s.buf
	default:
		// Max was lowered below what was already buffered.
		line = s.buf[:s.Max]
	}
	emit(line, true)
	s.endLine()
	s.discarding = true
}

// append adds chunk to the buffer. With a limit set, the buffer's capacity is
// capped at Max instead of following append's doubling, so the memory held
// per connection really is bounded by Max. Callers guarantee that the result
// fits within Max.
func (s *Splitter) append(chunk []byte) {
	need := len(s.buf) + len(chunk)
	if s.Max > 0 && need > cap(s.buf) {
		c := min(max(2*cap(s.buf), need, minBuffer), s.Max)
		nb := make([]byte, len(s.buf), c)
		copy(nb, s.buf)
		s.buf = nb
	}
	s.buf = append(s.buf, chunk...)
}

// endLine empties the buffer, keeping its storage for the next line unless
// an unlimited splitter has grown it unusually large.
func (s *Splitter) endLine() {
	if s.Max <= 0 && cap(s.buf) > shrinkAbove {
		s.buf = nil
		return
	}
	s.buf = s.buf[:0]
}

// indexTerminator returns the index of the first CR or LF in b, or -1.
func indexTerminator(b []byte) int {
	for i, c := range b {
		if c == '\r' || c == '\n' {
			return i
		}
	}
	return -1
}
