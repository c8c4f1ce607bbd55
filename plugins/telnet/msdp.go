package main

import (
	"github.com/portico-mud/portico/sdk/contract"
	"sort"
	"strconv"
	"strings"

	"github.com/portico-mud/portico/sdk"
)

// MSDP (MUD Server Data Protocol): IAC SB MSDP VAR name VAL value ... IAC SE,
// where a value is text, an array (ARRAY_OPEN VAL v ... ARRAY_CLOSE) or a
// table (TABLE_OPEN VAR k VAL v ... TABLE_CLOSE). Mapped to and from
// inputfuncs and outputfuncs as Evennia's telnet_oob does
// (evennia-reference.md §5.2).

// MSDP bytes.
const (
	msdpVAR        = 1
	msdpVAL        = 2
	msdpTableOpen  = 3
	msdpTableClose = 4
	msdpArrayOpen  = 5
	msdpArrayClose = 6
)

// maxMSDPDepth bounds nesting, in both directions: the payload is already
// bounded in size, but a value 8 KB deep would make the parser recurse
// that far.
const maxMSDPDepth = 16

// msdpCommands are the generic MSDP commands, renamed msdp_<name> so that
// they cannot collide with other inputfuncs (Evennia's remap).
var msdpCommands = map[string]bool{"list": true, "report": true, "reset": true, "send": true, "unreport": true}

// decodeMSDP turns an MSDP payload into inputfunc calls, one per variable
// name in order of first appearance: text values and array items become
// arguments, table entries keyword arguments; an empty value adds nothing.
// Several VARs with the same name are merged. Malformed parts are skipped.
func decodeMSDP(payload []byte) []sdk.Message {
	p := msdpParser{b: payload}
	var out []sdk.Message
	index := map[string]int{}
	for p.i < len(p.b) {
		if p.b[p.i] != msdpVAR {
			p.i++ // stray bytes outside a VAR are ignored
			continue
		}
		p.i++
		name := p.text()
		if name == "" || len(name) > maxOOBName {
			p.skipValues()
			continue
		}
		lower := strings.ToLower(name)
		if msdpCommands[lower] {
			name = "msdp_" + lower
		}
		k, ok := index[name]
		if !ok {
			k = len(out)
			index[name] = k
			out = append(out, sdk.Message{Name: name})
		}
		for p.i < len(p.b) && p.b[p.i] == msdpVAL {
			p.i++
			v := p.value(0)
			m := &out[k]
			switch x := v.(type) {
			case string:
				if x != "" {
					m.Args = append(m.Args, x)
				}
			case []any:
				m.Args = append(m.Args, x...)
			case map[string]any:
				if m.Kwargs == nil {
					m.Kwargs = map[string]any{}
				}
				for kk, vv := range x {
					m.Kwargs[kk] = vv
				}
			}
		}
	}
	return out
}

// msdpParser reads an MSDP payload.
type msdpParser struct {
	b []byte
	i int
}

// text reads text up to the next MSDP byte.
func (p *msdpParser) text() string {
	start := p.i
	for p.i < len(p.b) && (p.b[p.i] == 0 || p.b[p.i] > msdpArrayClose) {
		p.i++
	}
	s := strings.ToValidUTF8(string(p.b[start:p.i]), "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "")
}

// value reads the value after a VAL: a table, an array or text. Past the
// depth bound a nested value is skipped and read as empty text.
func (p *msdpParser) value(depth int) any {
	if p.i >= len(p.b) {
		return ""
	}
	switch p.b[p.i] {
	case msdpTableOpen:
		p.i++
		if depth >= maxMSDPDepth {
			p.skipNested(msdpTableOpen, msdpTableClose)
			return ""
		}
		t := map[string]any{}
		for p.i < len(p.b) && p.b[p.i] != msdpTableClose {
			if p.b[p.i] != msdpVAR {
				p.i++
				continue
			}
			p.i++
			key := p.text()
			var v any = ""
			if p.i < len(p.b) && p.b[p.i] == msdpVAL {
				p.i++
				v = p.value(depth + 1)
			}
			if key != "" {
				t[key] = v
			}
		}
		p.i++ // TABLE_CLOSE (or past the end)
		return t
	case msdpArrayOpen:
		p.i++
		if depth >= maxMSDPDepth {
			p.skipNested(msdpArrayOpen, msdpArrayClose)
			return ""
		}
		a := []any{}
		for p.i < len(p.b) && p.b[p.i] != msdpArrayClose {
			if p.b[p.i] != msdpVAL {
				p.i++
				continue
			}
			p.i++
			a = append(a, p.value(depth+1))
		}
		p.i++ // ARRAY_CLOSE (or past the end)
		return a
	}
	return p.text()
}

// skipNested skips to after the close matching an open already read.
func (p *msdpParser) skipNested(open, close byte) {
	depth := 1
	for p.i < len(p.b) && depth > 0 {
		switch p.b[p.i] {
		case open:
			depth++
		case close:
			depth--
		}
		p.i++
	}
}

// skipValues skips the values of a VAR whose name is unusable.
func (p *msdpParser) skipValues() {
	for p.i < len(p.b) && p.b[p.i] == msdpVAL {
		p.i++
		p.value(0)
	}
}

// encodeMSDP renders an outputfunc call as an MSDP payload (without the
// telnet framing), Evennia's way:
//
//	name()            -> VAR name VAL
//	name(a)           -> VAR name VAL a
//	name(a, b)        -> VAR name VAL ARRAY_OPEN VAL a VAL b ARRAY_CLOSE
//	name(k=v)         -> VAR name VAL TABLE_OPEN VAR k VAL v TABLE_CLOSE
//	name(a, k=v)      -> both, one after the other
//
// Nested lists and maps become nested arrays and tables (Evennia sends them
// as JSON text); table keys are sorted. The "options" keyword is never sent.
func encodeMSDP(m sdk.Message) []byte {
	kwargs := contract.WithoutOptions(m.Kwargs)
	head := append([]byte{msdpVAR}, msdpText(m.Name)...)
	head = append(head, msdpVAL)
	if len(m.Args) == 0 && len(kwargs) == 0 {
		return head
	}
	var b []byte
	if len(m.Args) > 0 {
		b = append(b, head...)
		if len(m.Args) == 1 {
			b = appendMSDPValue(b, m.Args[0], 0)
		} else {
			b = appendMSDPValue(b, m.Args, 0)
		}
	}
	if len(kwargs) > 0 {
		b = append(b, head...)
		b = appendMSDPValue(b, kwargs, 0)
	}
	return b
}

func appendMSDPValue(b []byte, v any, depth int) []byte {
	switch x := v.(type) {
	case []any:
		if depth < maxMSDPDepth {
			b = append(b, msdpArrayOpen)
			for _, e := range x {
				b = append(b, msdpVAL)
				b = appendMSDPValue(b, e, depth+1)
			}
			return append(b, msdpArrayClose)
		}
	case map[string]any:
		if depth < maxMSDPDepth {
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			b = append(b, msdpTableOpen)
			for _, k := range keys {
				b = append(b, msdpVAR)
				b = append(b, msdpText(k)...)
				b = append(b, msdpVAL)
				b = appendMSDPValue(b, x[k], depth+1)
			}
			return append(b, msdpTableClose)
		}
	}
	return append(b, msdpText(msdpScalar(v))...)
}

// msdpScalar formats a JSON-shaped scalar as MSDP text.
func msdpScalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "1"
		}
		return "0"
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	// Only reached past the depth bound: the rest goes as JSON text.
	b, err := jsonText(v)
	if err != nil {
		return ""
	}
	return b
}

// msdpText removes the bytes MSDP reserves (NUL and 1-6) from s. IAC is
// doubled later by the telnet framing.
func msdpText(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c > msdpArrayClose {
			out = append(out, c)
		}
	}
	return out
}
