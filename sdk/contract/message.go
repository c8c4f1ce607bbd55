// Package contract holds the plain Go types both sides of the portal
// session contract share: messages, session sync data, limits and Evennia's
// clean_senddata normalisation.
//
// It must stay a leaf of plain Go: it imports neither the host (core), nor
// the plugin runtime (sdk), nor the wire (sdk/portalpb, protobuf, gRPC), so
// that game code can use it without the wire. Package sdk/wire maps these
// types to the wire.
package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// Message is one Evennia inputfunc or outputfunc call: Name(*Args, **Kwargs).
// Values are JSON-shaped: nil, bool, int64, float64, string, []any and
// map[string]any.
type Message struct {
	// Name is the inputfunc or outputfunc ("text", "prompt", "client_options" ...).
	Name string
	// Args are the positional arguments.
	Args []any
	// Kwargs are the keyword arguments; "options" holds Portico's own
	// output options (echo, raw, nocolor ...).
	Kwargs map[string]any
}

// Text builds a `text` message with one string argument.
func Text(s string) Message { return Message{Name: "text", Args: []any{s}} }

// Prompt builds a `prompt` message with one string argument.
func Prompt(s string) Message { return Message{Name: "prompt", Args: []any{s}} }

// Options returns the message's kwargs["options"] map, or nil.
func (m Message) Options() map[string]any {
	o, _ := m.Kwargs["options"].(map[string]any)
	return o
}

// FirstString returns the first argument if it is a string.
func (m Message) FirstString() (string, bool) {
	if len(m.Args) == 0 {
		return "", false
	}
	s, ok := m.Args[0].(string)
	return s, ok
}

// DecodeJSON decodes one JSON value with integral numbers as int64 and other
// numbers as float64, and rejects trailing data.
func DecodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	// Not dec.More(): it reports false for a trailing ']' or '}'.
	if len(bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return normaliseNumbers(v), nil
}

func normaliseNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) {
			return x.String()
		}
		return f
	case []any:
		for i := range x {
			x[i] = normaliseNumbers(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = normaliseNumbers(x[k])
		}
		return x
	default:
		return v
	}
}

// WithoutOptions returns kwargs without the "options" key (Portico's own
// output options, never sent to a client as data), copying only when it is
// there.
func WithoutOptions(kwargs map[string]any) map[string]any {
	if _, ok := kwargs["options"]; !ok {
		return kwargs
	}
	out := make(map[string]any, len(kwargs))
	for k, v := range kwargs {
		if k != "options" {
			out[k] = v
		}
	}
	return out
}
