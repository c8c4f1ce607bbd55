// Package contract holds the types both sides of the portal session contract
// share: messages, session sync data, their conversion to and from the wire
// (package portalpb), Evennia's clean_senddata normalisation and the frame
// outbox that batches events onto the Link stream.
//
// It must stay a leaf: it imports neither the host (core) nor the plugin
// runtime (sdk), so that both can build on it.
package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/portico-mud/portico/sdk/portalpb"
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

// MessageToPB converts a message for the wire. Arguments that are all strings
// take the fast path (str_args); anything else is JSON.
func MessageToPB(m Message) (*portalpb.Message, error) {
	pm := &portalpb.Message{Name: m.Name}
	allStrings := true
	for _, a := range m.Args {
		if _, ok := a.(string); !ok {
			allStrings = false
			break
		}
	}
	if allStrings {
		if len(m.Args) > 0 {
			pm.StrArgs = make([]string, len(m.Args))
			for i, a := range m.Args {
				pm.StrArgs[i] = a.(string)
			}
		}
	} else {
		b, err := json.Marshal(m.Args)
		if err != nil {
			return nil, fmt.Errorf("contract: encode args of %q: %w", m.Name, err)
		}
		pm.ArgsJson = b
	}
	if len(m.Kwargs) > 0 {
		b, err := json.Marshal(m.Kwargs)
		if err != nil {
			return nil, fmt.Errorf("contract: encode kwargs of %q: %w", m.Name, err)
		}
		pm.KwargsJson = b
	}
	return pm, nil
}

// MessagesToPB converts a batch of messages, stopping at the first error.
func MessagesToPB(ms []Message) ([]*portalpb.Message, error) {
	out := make([]*portalpb.Message, 0, len(ms))
	for _, m := range ms {
		pm, err := MessageToPB(m)
		if err != nil {
			return nil, err
		}
		out = append(out, pm)
	}
	return out, nil
}

// MessageFromPB converts a wire message back. Integral JSON numbers become
// int64, others float64.
func MessageFromPB(pm *portalpb.Message) (Message, error) {
	m := Message{Name: pm.GetName()}
	if len(pm.GetStrArgs()) > 0 {
		m.Args = make([]any, len(pm.StrArgs))
		for i, s := range pm.StrArgs {
			m.Args[i] = s
		}
	} else if len(pm.GetArgsJson()) > 0 {
		v, err := DecodeJSON(pm.ArgsJson)
		if err != nil {
			return Message{}, fmt.Errorf("contract: decode args of %q: %w", m.Name, err)
		}
		args, ok := v.([]any)
		if !ok {
			return Message{}, fmt.Errorf("contract: decode args of %q: not a JSON array", m.Name)
		}
		m.Args = args
	}
	if len(pm.GetKwargsJson()) > 0 {
		v, err := DecodeJSON(pm.KwargsJson)
		if err != nil {
			return Message{}, fmt.Errorf("contract: decode kwargs of %q: %w", m.Name, err)
		}
		kw, ok := v.(map[string]any)
		if !ok {
			return Message{}, fmt.Errorf("contract: decode kwargs of %q: not a JSON object", m.Name)
		}
		m.Kwargs = kw
	}
	return m, nil
}

// MessagesFromPB converts a batch of wire messages, stopping at the first
// error.
func MessagesFromPB(pms []*portalpb.Message) ([]Message, error) {
	out := make([]Message, 0, len(pms))
	for _, pm := range pms {
		m, err := MessageFromPB(pm)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
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
