package main

import (
	"encoding/binary"
	"math/bits"
	"sync"
)

// This file is a small zlib (RFC 1950) / deflate (RFC 1951) encoder for
// MCCP2, written because Go's compress/flate allocates its whole compressor
// state up front: about 740 KB a stream at every level, 1.2 MB at level 1
// (measured by BenchmarkMCCPSessionMemory). A MUD keeps one stream open per
// compressed session for hours, so that would be gigabytes for a few
// thousand players.
//
// This encoder keeps a 16 KiB history (a 32 KiB buffer it slides) and a
// 4096-entry hash table of 4-byte prefixes: about 48 KB a session. It finds
// matches greedily with one candidate per hash (like zlib's fastest levels)
// and codes them with deflate's fixed Huffman codes, which for the small
// blocks a sync flush per output batch makes are what zlib itself picks;
// a block that would not shrink is sent stored instead. Any inflater reads
// the result; the tests check every byte against Go's.

const (
	// deflateWindow is how far back a match may reach. Deflate allows up
	// to 32 KiB; 16 KiB keeps memory down at a small cost in ratio.
	deflateWindow   = 16 << 10
	deflateHashBits = 12
	deflateMinMatch = 4
	deflateMaxMatch = 258
	// maxStoredBlock is the most one stored block can hold.
	maxStoredBlock = 65535
)

// deflater is one zlib stream. It is not safe for concurrent use.
type deflater struct {
	// buf holds the history (up to deflateWindow bytes) followed by the
	// data being compressed; it never grows past 2*deflateWindow.
	buf []byte
	// bufAbs is the stream offset of buf[0], modulo 2^32. The hash table
	// keeps offsets in the same form; a stale entry can only ever point at
	// bytes that are re-checked before use, so wrapping is harmless.
	bufAbs uint32
	head   []uint32 // hash of 4 bytes -> stream offset + 1 (0: none)

	adler   uint32
	header  bool // the zlib header has been written
	bitBuf  uint64
	bitN    uint
	out     []byte
	tokens  []uint32
	invalid bool // finished: nothing more may be written
}

// tokenPool holds token buffers between batches, so that an idle session
// keeps none.
var tokenPool = sync.Pool{New: func() any { s := make([]uint32, 0, deflateWindow); return &s }}

func newDeflater() *deflater {
	return &deflater{
		buf:   make([]byte, 0, 2*deflateWindow),
		head:  make([]uint32, 1<<deflateHashBits),
		adler: 1,
	}
}

// compress returns p compressed, ending with a sync flush, so that the
// client can show everything sent so far. The returned slice is new and
// belongs to the caller.
func (d *deflater) compress(p []byte) []byte {
	if d.invalid {
		return nil
	}
	d.out = make([]byte, 0, len(p)/2+16)
	d.writeHeader()
	d.adler = adler32Update(d.adler, p)
	tp := tokenPool.Get().(*[]uint32)
	d.tokens = (*tp)[:0]
	for len(p) > 0 {
		n := min(len(p), deflateWindow)
		d.block(p[:n])
		p = p[n:]
	}
	*tp = d.tokens[:0]
	tokenPool.Put(tp)
	d.tokens = nil
	// Sync flush: an empty stored block puts the stream on a byte
	// boundary, with everything before it decodable.
	d.writeBits(0, 3)
	d.alignByte()
	d.out = append(d.out, 0, 0, 0xff, 0xff)
	out := d.out
	d.out = nil
	return out
}

// finish ends the stream: a final empty block and the Adler-32 checksum.
func (d *deflater) finish() []byte {
	if d.invalid {
		return nil
	}
	d.out = make([]byte, 0, 16)
	d.writeHeader()
	// BFINAL=1, fixed Huffman, then end-of-block.
	d.writeBits(1|1<<1, 3)
	d.writeSymbol(256)
	d.alignByte()
	d.out = binary.BigEndian.AppendUint32(d.out, d.adler)
	d.invalid = true
	out := d.out
	d.out = nil
	return out
}

func (d *deflater) writeHeader() {
	if d.header {
		return
	}
	d.header = true
	// CMF 0x78: deflate with a 32 KiB window (ours is smaller, which any
	// decoder accepts); FLG 0x01: fastest level, no dictionary, and
	// (0x78<<8 | 0x01) % 31 == 0 as RFC 1950 requires.
	d.out = append(d.out, 0x78, 0x01)
}

// block compresses data (at most deflateWindow bytes) as one block.
func (d *deflater) block(data []byte) {
	// Slide: keep at most a window of history before the new data.
	if len(d.buf)+len(data) > cap(d.buf) {
		keep := min(len(d.buf), deflateWindow)
		drop := len(d.buf) - keep
		copy(d.buf, d.buf[drop:])
		d.buf = d.buf[:keep]
		d.bufAbs += uint32(drop)
	}
	start := len(d.buf)
	d.buf = append(d.buf, data...)
	d.tokens = d.tokens[:0]
	cost := d.tokenize(start)
	// A stored block costs its 4 length bytes plus the data; the fixed
	// block's cost was counted while tokenizing.
	if cost/8+1 > len(data)+5 {
		d.writeStored(data)
		return
	}
	d.writeBits(1<<1, 3) // BFINAL=0, BTYPE=01 (fixed Huffman)
	for _, t := range d.tokens {
		if t&tokenMatch == 0 {
			d.writeSymbol(int(t))
			continue
		}
		length := int(t>>16) & 0x1ff
		dist := int(t&0xffff) + 1
		lc := lengthCode[length]
		d.writeSymbol(257 + int(lc))
		if n := lengthExtra[lc]; n > 0 {
			d.writeBits(uint64(length-int(lengthBase[lc])), n)
		}
		dc := distCode(dist)
		d.writeBits(uint64(distRev[dc]), 5)
		if n := distExtra[dc]; n > 0 {
			d.writeBits(uint64(dist-int(distBase[dc])), n)
		}
	}
	d.writeSymbol(256)
}

// tokenMatch marks a match token: bits 16-24 its length, 0-15 distance-1.
const tokenMatch = 1 << 31

// tokenize finds literals and matches for buf[start:] and returns their
// cost in bits with the fixed codes (block header and end included).
func (d *deflater) tokenize(start int) int {
	b := d.buf
	end := len(b)
	cost := 3 + 7
	for i := start; i < end; {
		if end-i >= deflateMinMatch {
			h := hash4(b[i:])
			cand := d.head[h]
			d.head[h] = d.bufAbs + uint32(i) + 1
			if cand != 0 {
				ci := int(cand - 1 - d.bufAbs) // wraps to a huge value when stale
				if ci >= 0 && ci < i && i-ci <= deflateWindow &&
					binary.LittleEndian.Uint32(b[ci:]) == binary.LittleEndian.Uint32(b[i:]) {
					l := deflateMinMatch
					for i+l < end && l < deflateMaxMatch && b[ci+l] == b[i+l] {
						l++
					}
					dist := i - ci
					d.tokens = append(d.tokens, tokenMatch|uint32(l)<<16|uint32(dist-1))
					lc := lengthCode[l]
					dc := distCode(dist)
					cost += symbolLen(257+int(lc)) + int(lengthExtra[lc]) + 5 + int(distExtra[dc])
					// Index the positions inside the match too, so that
					// later text can refer to any of them.
					for k := i + 1; k < i+l && end-k >= deflateMinMatch; k++ {
						d.head[hash4(b[k:])] = d.bufAbs + uint32(k) + 1
					}
					i += l
					continue
				}
			}
		}
		d.tokens = append(d.tokens, uint32(b[i]))
		cost += symbolLen(int(b[i]))
		i++
	}
	return cost
}

// writeStored writes data as stored (uncompressed) blocks.
func (d *deflater) writeStored(data []byte) {
	for len(data) > 0 {
		n := min(len(data), maxStoredBlock)
		d.writeBits(0, 3) // BFINAL=0, BTYPE=00
		d.alignByte()
		d.out = binary.LittleEndian.AppendUint16(d.out, uint16(n))
		d.out = binary.LittleEndian.AppendUint16(d.out, ^uint16(n))
		d.out = append(d.out, data[:n]...)
		data = data[n:]
	}
}

func hash4(b []byte) uint32 {
	return (binary.LittleEndian.Uint32(b) * 0x9E3779B1) >> (32 - deflateHashBits)
}

// writeBits appends the n low bits of v, least significant first.
func (d *deflater) writeBits(v uint64, n uint) {
	d.bitBuf |= v << d.bitN
	d.bitN += n
	for d.bitN >= 8 {
		d.out = append(d.out, byte(d.bitBuf))
		d.bitBuf >>= 8
		d.bitN -= 8
	}
}

// alignByte pads to a byte boundary with zero bits.
func (d *deflater) alignByte() {
	if d.bitN > 0 {
		d.writeBits(0, 8-d.bitN)
	}
}

// writeSymbol writes a literal/length symbol with the fixed code.
func (d *deflater) writeSymbol(sym int) {
	d.writeBits(uint64(litRev[sym]), uint(litLen[sym]))
}

func symbolLen(sym int) int { return int(litLen[sym]) }

// The fixed Huffman code of RFC 1951 section 3.2.6, with codes bit-reversed
// because deflate writes Huffman codes most significant bit first into a
// least-significant-first stream.
var (
	litRev  [288]uint16
	litLen  [288]uint8
	distRev [30]uint8
)

// Length and distance tables of RFC 1951 section 3.2.5.
var (
	lengthBase = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
		35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
		3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
		257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra = [30]uint{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
		7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// lengthCode maps a match length (3-258) to its index in lengthBase.
	lengthCode [259]uint8
)

func init() {
	for sym := range 288 {
		var code, n int
		switch {
		case sym < 144:
			code, n = 0x30+sym, 8
		case sym < 256:
			code, n = 0x190+sym-144, 9
		case sym < 280:
			code, n = sym-256, 7
		default:
			code, n = 0xc0+sym-280, 8
		}
		litRev[sym] = uint16(bits.Reverse16(uint16(code)) >> (16 - n))
		litLen[sym] = uint8(n)
	}
	for c := range 30 {
		distRev[c] = bits.Reverse8(uint8(c)) >> 3
	}
	for c := range 29 {
		hi := 258
		if c < 28 {
			hi = int(lengthBase[c+1]) - 1
		}
		for l := int(lengthBase[c]); l <= hi; l++ {
			lengthCode[l] = uint8(c)
		}
	}
	// 258 has its own code (285), not the top of code 284's range.
	lengthCode[258] = 28
}

// distCode returns the distance code (0-29) for a distance of 1-32768.
func distCode(dist int) int {
	if dist <= 4 {
		return dist - 1
	}
	n := bits.Len32(uint32(dist-1)) - 1
	return 2*n + int((dist-1)>>(n-1)&1)
}

// adler32Update is Adler-32 (RFC 1950) over p, continuing from a.
func adler32Update(a uint32, p []byte) uint32 {
	const mod = 65521
	// nmax is the most bytes before s2 could overflow 32 bits.
	const nmax = 5552
	s1, s2 := a&0xffff, a>>16
	for len(p) > 0 {
		n := min(len(p), nmax)
		for _, c := range p[:n] {
			s1 += uint32(c)
			s2 += s1
		}
		s1 %= mod
		s2 %= mod
		p = p[n:]
	}
	return s2<<16 | s1
}
