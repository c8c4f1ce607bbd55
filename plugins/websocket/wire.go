package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/markup"
)

// A wire format turns websocket messages into inputfunc calls and
// outputfunc calls into websocket messages (evennia-reference.md §5.4).
// Each format is one Sec-WebSocket-Protocol name; a connection keeps the
// format it negotiated for its whole life. Formats keep no state and are
// safe for concurrent use.
type wireFormat interface {
	// Name is the subprotocol name.
	Name() string
	// OOB reports whether the format carries out-of-band messages (the OOB
	// protocol flag).
	OOB() bool
	// Decode turns one client message into input. An error is an
	// *inputError that says what to tell the client.
	Decode(typ websocket.MessageType, data []byte) (input, error)
	// Encode renders one outputfunc call as the frames to send, none when
	// the format has no way to carry it.
	Encode(m sdk.Message, rf renderFlags) []frame
}

// frame is one websocket message.
type frame struct {
	typ  websocket.MessageType
	data []byte
}

// input is what one client message asks for.
type input struct {
	msgs []sdk.Message
	// close is set by websocket_close: end the session now.
	close bool
}

// renderFlags are the session flags output rendering reads, copied out of
// the session under its lock once per batch.
type renderFlags struct {
	mode                       markup.Mode
	raw, noColor, screenReader bool
}

func renderFlagsOf(flags *contract.Flags) renderFlags {
	b := flags.Bool
	return renderFlags{mode: markup.ModeOf(flags), raw: b("RAW"), noColor: b("NOCOLOR"), screenReader: b("SCREENREADER")}
}

// inputError is input the plugin refuses: client is shown to the player,
// detail goes to the log.
type inputError struct {
	client string
	detail string
}

func (e *inputError) Error() string { return "websocket: bad input: " + e.detail }

func badInput(client, format string, args ...any) *inputError {
	return &inputError{client: client, detail: fmt.Sprintf(format, args...)}
}

// Messages a client is shown for input of the wrong shape.
const (
	msgNotJSON     = "Your client sent a message that is not valid JSON. It was ignored."
	msgV1Shape     = `Your client sent a message of the wrong shape: the v1.evennia.com format is ["inputfunc", [args], {kwargs}]. It was ignored.`
	msgV1Binary    = "Your client sent a binary message, but the v1.evennia.com format takes JSON text messages only. It was ignored."
	msgJSONShape   = `Your client sent a message of the wrong shape: json.mudstandards.org text messages are {"proto": "...", "id": "...", "data": "..."}. It was ignored.`
	msgBadFuncName = "Your client sent a message without a usable inputfunc name. It was ignored."
)

// maxFuncName bounds an inputfunc name taken from a client.
const maxFuncName = 128

// formats are the wire formats by lower-cased name.
var formats = map[string]wireFormat{
	ProtoV1:       v1Format{},
	ProtoJSON:     jsonFormat{},
	ProtoGMCP:     gmcpFormat{},
	ProtoTerminal: terminalFormat{},
	ProtoPortico:  porticoFormat{},
}

// formatByName returns the format a subprotocol name stands for (matched
// case-insensitively, as coder/websocket negotiates), or nil.
func formatByName(name string) wireFormat {
	return formats[strings.ToLower(name)]
}

// negotiated returns the format for the subprotocol a connection agreed
// on; none (no offer, no match) means v1.evennia.com, as in Evennia.
func negotiated(subprotocol string) wireFormat {
	if f := formatByName(subprotocol); f != nil {
		return f
	}
	return v1Format{}
}

// checkFuncName validates an inputfunc name from a client.
func checkFuncName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > maxFuncName {
		return "", badInput(msgBadFuncName, "inputfunc name %q", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", badInput(msgBadFuncName, "control character in inputfunc name %q", name)
		}
	}
	return name, nil
}

// checkUTF8 refuses a text frame that is not UTF-8, which RFC 6455 forbids
// and which JSON decoding would silently turn into U+FFFD.
func checkUTF8(data []byte) error {
	if !utf8.Valid(data) {
		return badInput(sdk.MsgBadUTF8, "invalid UTF-8 in a text message")
	}
	return nil
}

// marshal encodes v as compact JSON without HTML escaping: webclient text
// is HTML already, and "\u003cspan" would only make it longer.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("websocket: encode output: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// textOptions are the output options that shape how text is rendered.
type textOptions struct {
	raw, clientRaw, noColor, screenReader, prompt bool
}

// textOptionsOf reads the options of a text or prompt message; each falls
// back to the session's flag, as Evennia's send_text does.
func textOptionsOf(m sdk.Message, rf renderFlags) textOptions {
	opts := m.Options()
	b := func(k string, def bool) bool {
		if v, ok := opts[k].(bool); ok {
			return v
		}
		return def
	}
	return textOptions{
		raw:          b("raw", rf.raw),
		clientRaw:    b("client_raw", false),
		noColor:      b("nocolor", rf.noColor),
		screenReader: b("screenreader", rf.screenReader),
		prompt:       m.Name == "prompt" || b("send_prompt", false),
	}
}

// textArg returns a text message's text; false when there is none to send
// (no argument, or None), as Evennia's send_text skips those.
func textArg(m sdk.Message) (string, bool) {
	if len(m.Args) == 0 || m.Args[0] == nil {
		return "", false
	}
	if s, ok := m.Args[0].(string); ok {
		return s, true
	}
	return fmt.Sprint(m.Args[0]), true
}

// echoOption returns the echo output option (false hides what the player
// types: a password is asked for) and whether it is set.
func echoOption(m sdk.Message) (on, set bool) {
	on, set = m.Options()["echo"].(bool)
	return on, set
}
