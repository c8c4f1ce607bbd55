// Package wire is the only place that maps the contract's Go types
// (package sdk/contract) to the Link's protobuf messages (package
// sdk/portalpb); it holds the data link's frame codec (frame.go) and its
// writer that never waits (FrameWriter), and the Outbox that writes events
// on the data link or queues them (for the Link stream, or for the next
// link). Both link adapters use it: the SDK's (sdk/portal.go, sdk/serve.go)
// on the plugin side and the host's (core/plugins). Game code
// (core/sessions, core/commands, core/channels) must not import it: it deals
// in contract types, and the link adapter encodes for it.
package wire

import (
	"encoding/json"
	"fmt"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// MessageToPB converts a message for the wire. Arguments that are all strings
// take the fast path (str_args); anything else is JSON.
func MessageToPB(m contract.Message) (*portalpb.Message, error) {
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
			return nil, fmt.Errorf("wire: encode args of %q: %w", m.Name, err)
		}
		pm.ArgsJson = b
	}
	if len(m.Kwargs) > 0 {
		b, err := json.Marshal(m.Kwargs)
		if err != nil {
			return nil, fmt.Errorf("wire: encode kwargs of %q: %w", m.Name, err)
		}
		pm.KwargsJson = b
	}
	return pm, nil
}

// MessagesToPB converts a batch of messages, stopping at the first error.
func MessagesToPB(ms []contract.Message) ([]*portalpb.Message, error) {
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
func MessageFromPB(pm *portalpb.Message) (contract.Message, error) {
	m := contract.Message{Name: pm.GetName()}
	if len(pm.GetStrArgs()) > 0 {
		m.Args = make([]any, len(pm.StrArgs))
		for i, s := range pm.StrArgs {
			m.Args[i] = s
		}
	} else if len(pm.GetArgsJson()) > 0 {
		v, err := contract.DecodeJSON(pm.ArgsJson)
		if err != nil {
			return contract.Message{}, fmt.Errorf("wire: decode args of %q: %w", m.Name, err)
		}
		args, ok := v.([]any)
		if !ok {
			return contract.Message{}, fmt.Errorf("wire: decode args of %q: not a JSON array", m.Name)
		}
		m.Args = args
	}
	if len(pm.GetKwargsJson()) > 0 {
		v, err := contract.DecodeJSON(pm.KwargsJson)
		if err != nil {
			return contract.Message{}, fmt.Errorf("wire: decode kwargs of %q: %w", m.Name, err)
		}
		kw, ok := v.(map[string]any)
		if !ok {
			return contract.Message{}, fmt.Errorf("wire: decode kwargs of %q: not a JSON object", m.Name)
		}
		m.Kwargs = kw
	}
	return m, nil
}

// MessagesFromPB converts a batch of wire messages, stopping at the first
// error.
func MessagesFromPB(pms []*portalpb.Message) ([]contract.Message, error) {
	out := make([]contract.Message, 0, len(pms))
	for _, pm := range pms {
		m, err := MessageFromPB(pm)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
