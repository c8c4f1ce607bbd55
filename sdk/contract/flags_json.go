package contract

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The flags cross the Link as a JSON object on every sync, and all of a
// plugin's sessions at once when a host reattaches (10,000 of them in a
// reload's critical path). encoding/json's map path spent four fifths of
// a session's conversion there; the flags are nearly always flat scalars,
// so they are written and read here directly, with encoding/json kept for
// whatever else a flag may hold. The bytes are the same as
// json.Marshal(f.Map()) writes: keys sorted, HTML characters escaped.

// AppendJSON appends the flags as a JSON object to b.
func (f Flags) AppendJSON(b []byte) ([]byte, error) {
	var extra []string
	if len(f.extra) > 0 {
		extra = make([]string, 0, len(f.extra))
		for k := range f.extra {
			extra = append(extra, k)
		}
		slices.Sort(extra)
	}
	b = append(b, '{')
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	i, j := 0, 0
	for i < len(knownFlags) || j < len(extra) {
		// Merge the two sorted lists; a key is in at most one of them.
		if j == len(extra) || (i < len(knownFlags) && knownFlags[i].name < extra[j]) {
			if f.set&(1<<i) != 0 {
				sep()
				b = appendJSONString(b, knownFlags[i].name)
				b = append(b, ':')
				b = f.appendKnown(b, uint8(i))
			}
			i++
			continue
		}
		k := extra[j]
		j++
		sep()
		b = appendJSONString(b, k)
		b = append(b, ':')
		v, err := json.Marshal(f.extra[k])
		if err != nil {
			return nil, err
		}
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

func (f Flags) appendKnown(b []byte, i uint8) []byte {
	k := knownFlags[i]
	switch k.kind {
	case kindBool:
		return strconv.AppendBool(b, f.bools&(1<<k.slot) != 0)
	case kindInt:
		return strconv.AppendInt(b, int64(f.ints[k.slot]), 10)
	default:
		return appendJSONString(b, f.strs[k.slot])
	}
}

// appendJSONString appends s quoted as encoding/json quotes it: plain
// printable ASCII directly, anything else through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// setFlatJSON sets the flags of a JSON object whose values are all true,
// false, null, whole numbers or strings without escapes, and reports
// whether b was such an object; when it was not, f is unchanged.
func (f *Flags) setFlatJSON(b []byte) bool {
	type entry struct {
		k string
		v any
	}
	var entries [32]entry
	list := entries[:0]
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		kb, n, ok := plainBytes(b, i)
		if !ok {
			return false
		}
		// A known flag's name is the contract's own string: looked up
		// without making one (most flags on the wire are known).
		var k string
		if x, known := knownIndex[string(kb)]; known {
			k = knownFlags[x].name
		} else {
			k = string(kb)
		}
		i = skipSpace(b, n)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return false
		}
		var v any
		switch c := b[i]; {
		case c == '"':
			s, n, ok := plainString(b, i)
			if !ok {
				return false
			}
			v, i = s, n
		case c == 't' || c == 'f' || c == 'n':
			switch {
			case hasPrefixAt(b, i, "true"):
				v, i = true, i+4
			case hasPrefixAt(b, i, "false"):
				v, i = false, i+5
			case hasPrefixAt(b, i, "null"):
				v, i = nil, i+4
			default:
				return false
			}
		case c == '-' || (c >= '0' && c <= '9'):
			// JSON's integers: -?(0|[1-9][0-9]*).
			n := i
			if b[n] == '-' {
				n++
			}
			start := n
			for n < len(b) && b[n] >= '0' && b[n] <= '9' {
				n++
			}
			if n == start || (b[start] == '0' && n > start+1) {
				return false
			}
			if n < len(b) && (b[n] == '.' || b[n] == 'e' || b[n] == 'E') {
				return false // a fraction: encoding/json reads it
			}
			x, err := strconv.ParseInt(string(b[i:n]), 10, 64)
			if err != nil {
				return false // too large for an int64, or not a number
			}
			v, i = x, n
		default:
			return false
		}
		list = append(list, entry{k, v})
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			if skipSpace(b, i+1) != len(b) {
				return false
			}
			break
		}
		if b[i] != ',' {
			return false
		}
		i = skipSpace(b, i+1)
	}
	for _, e := range list {
		f.Set(e.k, e.v)
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func hasPrefixAt(b []byte, i int, p string) bool {
	return len(b)-i >= len(p) && string(b[i:i+len(p)]) == p
}

// plainString reads a JSON string at b[i] that has no escapes and only
// valid UTF-8 without control characters, returning it (interned when
// short: flag names and values repeat across sessions) and the index after
// it.
func plainString(b []byte, i int) (string, int, bool) {
	s, n, ok := plainBytes(b, i)
	if !ok {
		return "", 0, false
	}
	return InternBytes(s), n, true
}

// plainBytes is plainString's string as bytes of b, not copied.
func plainBytes(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for n := i + 1; n < len(b); n++ {
		switch c := b[n]; {
		case c == '"':
			s := b[i+1 : n]
			if !utf8.Valid(s) {
				return nil, 0, false
			}
			return s, n + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		}
	}
	return nil, 0, false
}
