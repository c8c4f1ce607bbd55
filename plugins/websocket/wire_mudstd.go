package main

import (
	"fmt"
	"strings"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/gmcp"
	"github.com/portico-mud/portico/sdk/markup"
)

// The MUD Standards websocket subprotocols (mudstandards.org/websocket):
// game text travels as ANSI in BINARY frames both ways, as a terminal
// would show it; they differ in how out-of-band data travels.
//
//   - json.mudstandards.org: TEXT frames hold {"proto", "id", "data"}.
//   - gmcp.mudstandards.org: TEXT frames hold GMCP, "Package.Name <json>".
//   - terminal.mudstandards.org: no out-of-band data at all.
//
// Text in: UTF-8, split into lines; blank lines are ignored, as Evennia
// strips and drops them. Text out: markup rendered as ANSI by the session's
// flags (plain for NOCOLOR and SCREENREADER, untouched when raw), line ends
// sent as CR LF and one added to text that lacks it, as the telnet plugin
// does, so that a terminal-style client never runs two messages together;
// a prompt gets no line end.

// jsonFormat is json.mudstandards.org.
type jsonFormat struct{}

// gmcpFormat is gmcp.mudstandards.org.
type gmcpFormat struct{}

// terminalFormat is terminal.mudstandards.org.
type terminalFormat struct{}

var (
	_ wireFormat = jsonFormat{}
	_ wireFormat = gmcpFormat{}
	_ wireFormat = terminalFormat{}
)

func (jsonFormat) Name() string     { return ProtoJSON }
func (gmcpFormat) Name() string     { return ProtoGMCP }
func (terminalFormat) Name() string { return ProtoTerminal }

func (jsonFormat) OOB() bool     { return true }
func (gmcpFormat) OOB() bool     { return true }
func (terminalFormat) OOB() bool { return false }

// envelope is json.mudstandards.org's TEXT frame.
type envelope struct {
	Proto string `json:"proto"`
	ID    string `json:"id"`
	Data  string `json:"data"`
}

// Decode: BINARY is text; TEXT is an envelope. proto "gmcp" is GMCP with
// the package in id; "text" is text; "websocket_close" ends the session;
// any other proto calls the inputfunc named by id (or proto), with data's
// JSON as its arguments: a list the args, an object the kwargs, anything
// else (or text that is not JSON) the one argument.
func (jsonFormat) Decode(typ websocket.MessageType, data []byte) (input, error) {
	if typ == websocket.MessageBinary {
		return textInput(data)
	}
	if err := checkUTF8(data); err != nil {
		return input{}, err
	}
	v, err := contract.DecodeJSON(data)
	if err != nil {
		return input{}, badInput(msgNotJSON, "not JSON: %v", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return input{}, badInput(msgJSONShape, "not an object: %.80s", data)
	}
	proto, ok := obj["proto"].(string)
	if !ok {
		return input{}, badInput(msgJSONShape, "proto is not a string: %.80s", data)
	}
	id := stringField(obj["id"])
	payload := stringField(obj["data"])
	switch proto {
	case "gmcp":
		id = strings.TrimSpace(id)
		if id == "" {
			return input{}, badInput(msgJSONShape, "gmcp envelope without an id")
		}
		msg := id
		if payload != "" {
			msg += " " + payload
		}
		m, ok := gmcp.Decode(msg)
		if !ok {
			return input{}, badInput(msgBadFuncName, "unusable GMCP package %q", id)
		}
		return input{msgs: []sdk.Message{m}}, nil
	case "text":
		return linesInput(payload), nil
	case "websocket_close":
		return input{close: true}, nil
	}
	name := id
	if name == "" {
		name = proto
	}
	name, err = checkFuncName(name)
	if err != nil {
		return input{}, err
	}
	m := sdk.Message{Name: name}
	if payload != "" {
		parsed, err := contract.DecodeJSON([]byte(payload))
		if err != nil {
			parsed = payload
		}
		switch x := parsed.(type) {
		case map[string]any:
			m.Kwargs = x
		case []any:
			m.Args = x
		default:
			m.Args = []any{x}
		}
	}
	return input{msgs: []sdk.Message{m}}, nil
}

// stringField reads an envelope field as Evennia does: a string as it is,
// null as "", anything else as its JSON.
func stringField(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		b, err := marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}

func (jsonFormat) Encode(m sdk.Message, rf renderFlags) []frame {
	switch m.Name {
	case "text":
		return ansiFrame(m, rf)
	case "prompt":
		text, ok := ansiText(m, rf)
		if !ok {
			return nil
		}
		return envelopeFrame(envelope{Proto: "prompt", Data: text})
	case "options":
		return nil
	}
	p := gmcp.Package(m.Name)
	return envelopeFrame(envelope{Proto: "gmcp", ID: p, Data: gmcp.Payload(m)})
}

func envelopeFrame(e envelope) []frame {
	b, err := marshal(e)
	if err != nil {
		return nil
	}
	return []frame{{typ: websocket.MessageText, data: b}}
}

// Decode: BINARY is text, TEXT is one GMCP message; an empty one is
// ignored.
func (gmcpFormat) Decode(typ websocket.MessageType, data []byte) (input, error) {
	if typ == websocket.MessageBinary {
		return textInput(data)
	}
	if err := checkUTF8(data); err != nil {
		return input{}, err
	}
	if strings.TrimSpace(string(data)) == "" {
		return input{}, nil
	}
	m, ok := gmcp.Decode(string(data))
	if !ok {
		return input{}, badInput(msgBadFuncName, "unusable GMCP message %.80q", data)
	}
	return input{msgs: []sdk.Message{m}}, nil
}

func (gmcpFormat) Encode(m sdk.Message, rf renderFlags) []frame {
	switch m.Name {
	case "text", "prompt":
		return ansiFrame(m, rf)
	case "options":
		return nil
	}
	return []frame{{typ: websocket.MessageText, data: []byte(gmcp.Encode(m))}}
}

// Decode: every frame is text, whatever its type, as Evennia's terminal
// format reads them.
func (terminalFormat) Decode(_ websocket.MessageType, data []byte) (input, error) {
	return textInput(data)
}

func (terminalFormat) Encode(m sdk.Message, rf renderFlags) []frame {
	switch m.Name {
	case "text", "prompt":
		return ansiFrame(m, rf)
	}
	// No out-of-band channel: the client has no way to receive it.
	return nil
}

// textInput reads a frame of typed text.
func textInput(data []byte) (input, error) {
	if err := checkUTF8(data); err != nil {
		return input{}, err
	}
	return linesInput(string(data)), nil
}

// linesInput makes one text message per non-blank line of s.
func linesInput(s string) input {
	var in input
	for _, line := range splitLines(s) {
		if line = strings.TrimSpace(line); line != "" {
			in.msgs = append(in.msgs, sdk.Text(line))
		}
	}
	return in
}

// splitLines splits s at CR LF, LF CR, LF and CR, as the telnet plugin
// splits its input.
func splitLines(s string) []string {
	if !strings.ContainsAny(s, "\r\n") {
		return []string{s}
	}
	var out []string
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		n := 1
		if i+1 < len(s) && (s[i+1] == '\r' || s[i+1] == '\n') && s[i+1] != s[i] {
			n = 2
		}
		s = s[i+n:]
		if s == "" {
			return out
		}
	}
}

// ansiText renders a text or prompt message as a terminal shows it.
func ansiText(m sdk.Message, rf renderFlags) (string, bool) {
	text, ok := textArg(m)
	if !ok {
		return "", false
	}
	o := textOptionsOf(m, rf)
	// Whether a line end is missing is judged on the text as written:
	// rendering may add a colour reset after its "\n".
	needEnd := !o.prompt && !strings.HasSuffix(text, "\n")
	switch {
	case o.raw:
	case o.noColor || o.screenReader:
		text = markup.Strip(text)
	default:
		text = markup.Render(text, rf.mode)
	}
	if needEnd {
		text += "\n"
	}
	return crlf(text), true
}

// ansiFrame is a text or prompt message as a BINARY frame.
func ansiFrame(m sdk.Message, rf renderFlags) []frame {
	text, ok := ansiText(m, rf)
	if !ok || text == "" {
		return nil
	}
	return []frame{{typ: websocket.MessageBinary, data: []byte(text)}}
}

// crlf sends every line end as CR LF.
func crlf(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}
