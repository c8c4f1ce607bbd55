package main

import (
	"maps"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/markup"
)

// v1Format is Evennia's own webclient format, v1.evennia.com: every
// message is a JSON text frame ["cmdname", [args], {kwargs}], both ways.
//
// In: the array needs at least three items (more are ignored, as Evennia
// does); the name must be a string; args may be a list, null (none) or a
// single value (one argument); kwargs an object or null. The JavaScript
// client puts its callback id in kwargs as "cmdid"; it is passed on as it
// is. ["websocket_close", [], {}] ends the session.
//
// Out: text becomes ["text", ["<html>"], {kwargs}] with the markup rendered
// as HTML and the options taken out, a prompt ["prompt", ...] alike, any
// other outputfunc [name, args, kwargs] as it is, options included
// (["logged_in", [], {"options": {}}]). One departure from Evennia: when a
// text or prompt carries the echo option (the host hides a password while
// it is typed), kwargs keeps {"options": {"echo": false}} so that the page
// can switch its input to a password field; Evennia has no such option.
type v1Format struct{}

var _ wireFormat = v1Format{}

func (v1Format) Name() string { return ProtoV1 }
func (v1Format) OOB() bool    { return true }

func (v1Format) Decode(typ websocket.MessageType, data []byte) (input, error) {
	if typ != websocket.MessageText {
		return input{}, badInput(msgV1Binary, "binary message on %s", ProtoV1)
	}
	if err := checkUTF8(data); err != nil {
		return input{}, err
	}
	v, err := contract.DecodeJSON(data)
	if err != nil {
		return input{}, badInput(msgNotJSON, "not JSON: %v", err)
	}
	arr, ok := v.([]any)
	if !ok || len(arr) < 3 {
		return input{}, badInput(msgV1Shape, "not an array of at least 3 items: %.80s", data)
	}
	rawName, ok := arr[0].(string)
	if !ok {
		return input{}, badInput(msgV1Shape, "inputfunc name is not a string: %.80s", data)
	}
	name, err := checkFuncName(rawName)
	if err != nil {
		return input{}, err
	}
	var kwargs map[string]any
	switch k := arr[2].(type) {
	case map[string]any:
		kwargs = k
	case nil:
	default:
		return input{}, badInput(msgV1Shape, "kwargs is not an object: %.80s", data)
	}
	if name == "websocket_close" {
		return input{close: true}, nil
	}
	return input{msgs: []sdk.Message{{Name: name, Args: argsOf(arr[1]), Kwargs: kwargs}}}, nil
}

// argsOf reads the args item as Evennia's clean_senddata would: a list is
// the arguments, null none, anything else the one argument.
func argsOf(v any) []any {
	switch a := v.(type) {
	case []any:
		return a
	case nil:
		return nil
	default:
		return []any{a}
	}
}

func (v1Format) Encode(m sdk.Message, rf renderFlags) []frame {
	var doc []any
	switch m.Name {
	case "text", "prompt":
		text, ok := textArg(m)
		if !ok {
			return nil
		}
		o := textOptionsOf(m, rf)
		args := append([]any{v1HTML(text, o)}, m.Args[1:]...)
		kwargs := maps.Clone(m.Kwargs)
		delete(kwargs, "options")
		if kwargs == nil {
			kwargs = map[string]any{}
		}
		if on, set := echoOption(m); set {
			kwargs["options"] = map[string]any{"echo": on}
		}
		name := "text"
		if o.prompt {
			name = "prompt"
		}
		doc = []any{name, args, kwargs}
	case "options":
		// Evennia never sends an "options" outputfunc to the webclient.
		return nil
	default:
		args, kwargs := m.Args, m.Kwargs
		if args == nil {
			args = []any{}
		}
		if kwargs == nil {
			kwargs = map[string]any{}
		}
		doc = []any{m.Name, args, kwargs}
	}
	b, err := marshal(doc)
	if err != nil {
		return nil
	}
	return []frame{{typ: websocket.MessageText, data: b}}
}

// v1HTML renders text for the webclient as Evennia's send_text does:
// markup as HTML; NOCOLOR and SCREENREADER without colours; raw text
// HTML-escaped, or as it is for client_raw. Escape first makes markup.HTML
// show the text literally, with its line breaks.
func v1HTML(text string, o textOptions) string {
	switch {
	case o.raw && o.clientRaw:
		return text
	case o.raw:
		return markup.HTML(markup.Escape(text))
	case o.noColor || o.screenReader:
		return markup.HTML(markup.Escape(markup.Strip(text)))
	default:
		return markup.HTML(text)
	}
}
