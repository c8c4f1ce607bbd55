package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/markup"
)

// Flags a websocket session has (socketFlags): all colours.
var colourFlags = renderFlagsOfMap(map[string]any{"ANSI": true, "XTERM256": true, "TRUECOLOR": true})

// opts builds kwargs with an options map, as the host sends every message.
func opts(o map[string]any) map[string]any {
	if o == nil {
		o = map[string]any{}
	}
	return map[string]any{"options": o}
}

type encodeCase struct {
	name string
	m    sdk.Message
	rf   renderFlags
	want []frame
}

func txt(s string) frame { return frame{typ: websocket.MessageText, data: []byte(s)} }
func bin(s string) frame { return frame{typ: websocket.MessageBinary, data: []byte(s)} }

func checkEncode(t *testing.T, f wireFormat, tests []encodeCase) {
	t.Helper()
	for _, tt := range tests {
		got := f.Encode(tt.m, tt.rf)
		if !framesEqual(got, tt.want) {
			t.Errorf("%s: %s.Encode(%#v) =\n%s\nwant\n%s", tt.name, f.Name(), tt.m, showFrames(got), showFrames(tt.want))
		}
	}
}

func framesEqual(a, b []frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].typ != b[i].typ || string(a[i].data) != string(b[i].data) {
			return false
		}
	}
	return true
}

func showFrames(fs []frame) string {
	s := ""
	for _, f := range fs {
		s += "  " + f.typ.String() + " " + string(f.data) + "\n"
	}
	if s == "" {
		return "  (no frames)\n"
	}
	return s
}

func TestV1Encode(t *testing.T) {
	checkEncode(t, v1Format{}, []encodeCase{
		{"text as HTML, options removed", sdk.Message{Name: "text", Args: []any{"|rHello|n <world> & \"x\"\nline2"}, Kwargs: opts(nil)}, colourFlags,
			[]frame{txt(`["text",["<span class=\"color-009\">Hello</span> &lt;world&gt; &amp; &quot;x&quot;<br>line2"],{}]`)}},
		{"plain text", sdk.Message{Name: "text", Args: []any{"You say, \"hi\""}, Kwargs: opts(nil)}, colourFlags,
			[]frame{txt(`["text",["You say, &quot;hi&quot;"],{}]`)}},
		{"prompt", sdk.Message{Name: "prompt", Args: []any{"HP: |g10|n> "}, Kwargs: opts(nil)}, colourFlags,
			[]frame{txt(`["prompt",["HP: <span class=\"color-010\">10</span>&gt; "],{}]`)}},
		{"send_prompt option makes a prompt", sdk.Message{Name: "text", Args: []any{"> "}, Kwargs: opts(map[string]any{"send_prompt": true})}, colourFlags,
			[]frame{txt(`["prompt",["&gt; "],{}]`)}},
		{"password prompt keeps the echo option", sdk.Message{Name: "prompt", Args: []any{"Password: "}, Kwargs: opts(map[string]any{"echo": false})}, colourFlags,
			[]frame{txt(`["prompt",["Password: "],{"options":{"echo":false}}]`)}},
		{"echo back on", sdk.Message{Name: "text", Args: []any{""}, Kwargs: opts(map[string]any{"echo": true})}, colourFlags,
			[]frame{txt(`["text",[""],{"options":{"echo":true}}]`)}},
		{"nocolor option", sdk.Message{Name: "text", Args: []any{"|rred|n a||b"}, Kwargs: opts(map[string]any{"nocolor": true})}, colourFlags,
			[]frame{txt(`["text",["red a|b"],{}]`)}},
		{"NOCOLOR flag", sdk.Message{Name: "text", Args: []any{"|rred"}, Kwargs: opts(nil)}, renderFlagsOfMap(map[string]any{"NOCOLOR": true}),
			[]frame{txt(`["text",["red"],{}]`)}},
		{"raw is escaped, not parsed", sdk.Message{Name: "text", Args: []any{"|r<b>"}, Kwargs: opts(map[string]any{"raw": true})}, colourFlags,
			[]frame{txt(`["text",["|r&lt;b&gt;"],{}]`)}},
		{"client_raw goes as it is", sdk.Message{Name: "text", Args: []any{"<b>x</b>"}, Kwargs: opts(map[string]any{"raw": true, "client_raw": true})}, colourFlags,
			[]frame{txt(`["text",["<b>x</b>"],{}]`)}},
		{"other kwargs and args stay", sdk.Message{Name: "text", Args: []any{"a", "b"}, Kwargs: map[string]any{"type": "say", "options": map[string]any{}}}, colourFlags,
			[]frame{txt(`["text",["a","b"],{"type":"say"}]`)}},
		{"clickable command", sdk.Message{Name: "text", Args: []any{"|lclook|ltLook|le"}, Kwargs: opts(nil)}, colourFlags,
			[]frame{txt(`["text",["<a id=\"mxplink\" href=\"#\" onclick=\"Evennia.msg(&quot;text&quot;,[&quot;look&quot;],{});return false;\">Look</a>"],{}]`)}},
		{"non-ASCII", sdk.Message{Name: "text", Args: []any{"café ☕"}, Kwargs: opts(nil)}, colourFlags,
			[]frame{txt(`["text",["café ☕"],{}]`)}},
		{"text without text is not sent", sdk.Message{Name: "text", Kwargs: opts(nil)}, colourFlags, nil},
		{"text None is not sent", sdk.Message{Name: "text", Args: []any{nil}}, colourFlags, nil},
		{"logged_in keeps its options", sdk.Message{Name: "logged_in", Kwargs: opts(nil)}, colourFlags,
			[]frame{txt(`["logged_in",[],{"options":{}}]`)}},
		{"OOB with args and kwargs", sdk.Message{Name: "get_value", Args: []any{int64(1), "x"}, Kwargs: map[string]any{"name": "key", "value": "Bob"}}, colourFlags,
			[]frame{txt(`["get_value",[1,"x"],{"name":"key","value":"Bob"}]`)}},
		{"bare OOB", sdk.Message{Name: "ping"}, colourFlags, []frame{txt(`["ping",[],{}]`)}},
		{"options outputfunc is never sent", sdk.Message{Name: "options", Kwargs: map[string]any{"x": true}}, colourFlags, nil},
	})
}

func TestV1Decode(t *testing.T) {
	tests := []struct {
		in   string
		want input
	}{
		{`["text",["look"],{}]`, input{msgs: []sdk.Message{{Name: "text", Args: []any{"look"}, Kwargs: map[string]any{}}}}},
		{`["text",["say hi"],{"cmdid":3}]`, input{msgs: []sdk.Message{{Name: "text", Args: []any{"say hi"}, Kwargs: map[string]any{"cmdid": int64(3)}}}}},
		{`["client_options",[],{"screenwidth":100,"screenheight":30}]`, input{msgs: []sdk.Message{{Name: "client_options", Args: []any{},
			Kwargs: map[string]any{"screenwidth": int64(100), "screenheight": int64(30)}}}}},
		{`["get_value",null,null]`, input{msgs: []sdk.Message{{Name: "get_value"}}}},
		{`["text","look",{}]`, input{msgs: []sdk.Message{{Name: "text", Args: []any{"look"}, Kwargs: map[string]any{}}}}},
		{`["text",["look"],{},"ignored"]`, input{msgs: []sdk.Message{{Name: "text", Args: []any{"look"}, Kwargs: map[string]any{}}}}},
		{` [ "echo" , [1, 2.5, true, null] , {"a": {"b": [1]}} ] `, input{msgs: []sdk.Message{{Name: "echo", Args: []any{int64(1), 2.5, true, nil},
			Kwargs: map[string]any{"a": map[string]any{"b": []any{int64(1)}}}}}}},
		{`["websocket_close",[],{}]`, input{close: true}},
		{`["no_such_inputfunc",[],{}]`, input{msgs: []sdk.Message{{Name: "no_such_inputfunc", Args: []any{}, Kwargs: map[string]any{}}}}},
	}
	for _, tt := range tests {
		got, err := v1Format{}.Decode(websocket.MessageText, []byte(tt.in))
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Decode(%s) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
}

func TestV1DecodeRefuses(t *testing.T) {
	tests := []struct {
		typ  websocket.MessageType
		in   string
		want string
	}{
		{websocket.MessageText, `["text",["look"],{}`, msgNotJSON},
		{websocket.MessageText, `look`, msgNotJSON},
		{websocket.MessageText, ``, msgNotJSON},
		{websocket.MessageText, `["text",["a"],{}] x`, msgNotJSON},
		{websocket.MessageText, `{"text":["look"]}`, msgV1Shape},
		{websocket.MessageText, `"look"`, msgV1Shape},
		{websocket.MessageText, `["text",["look"]]`, msgV1Shape},
		{websocket.MessageText, `[]`, msgV1Shape},
		{websocket.MessageText, `[1,[],{}]`, msgV1Shape},
		{websocket.MessageText, `[null,[],{}]`, msgV1Shape},
		{websocket.MessageText, `["text",[],[]]`, msgV1Shape},
		{websocket.MessageText, `["text",[],"x"]`, msgV1Shape},
		{websocket.MessageText, `["",[],{}]`, msgBadFuncName},
		{websocket.MessageText, `["  ",[],{}]`, msgBadFuncName},
		{websocket.MessageText, "[\"a\\u0007b\",[],{}]", msgBadFuncName},
		{websocket.MessageText, `["` + strings.Repeat("x", maxFuncName+1) + `",[],{}]`, msgBadFuncName},
		{websocket.MessageText, "[\"text\",[\"\xff\"],{}]", sdk.MsgBadUTF8},
		{websocket.MessageBinary, `["text",["look"],{}]`, msgV1Binary},
	}
	for _, tt := range tests {
		_, err := v1Format{}.Decode(tt.typ, []byte(tt.in))
		var ie *inputError
		if !errors.As(err, &ie) || ie.client != tt.want {
			t.Errorf("Decode(%v %q) error = %v; want the client told %q", tt.typ, tt.in, err, tt.want)
		}
	}
}

func TestJSONStandardEncode(t *testing.T) {
	checkEncode(t, jsonFormat{}, []encodeCase{
		{"text as ANSI in a binary frame", sdk.Message{Name: "text", Args: []any{"|rHello|n world"}, Kwargs: opts(nil)}, colourFlags,
			[]frame{bin("\x1b[1m\x1b[31mHello\x1b[0m world\r\n")}},
		{"lines end in CR LF", sdk.Message{Name: "text", Args: []any{"a\nb\r\nc\n"}, Kwargs: opts(nil)}, colourFlags,
			[]frame{bin("a\r\nb\r\nc\r\n")}},
		{"truecolor", sdk.Message{Name: "text", Args: []any{"|#ff8000orange"}, Kwargs: opts(nil)}, colourFlags,
			[]frame{bin("\x1b[38;2;255;128;0morange\x1b[0m\r\n")}},
		{"nocolor", sdk.Message{Name: "text", Args: []any{"|rred"}, Kwargs: opts(map[string]any{"nocolor": true})}, colourFlags,
			[]frame{bin("red\r\n")}},
		{"raw", sdk.Message{Name: "text", Args: []any{"|rred"}, Kwargs: opts(map[string]any{"raw": true})}, colourFlags,
			[]frame{bin("|rred\r\n")}},
		{"prompt as an envelope", sdk.Message{Name: "prompt", Args: []any{"|gHP|n> "}, Kwargs: opts(nil)}, colourFlags,
			[]frame{txt(`{"proto":"prompt","id":"","data":"\u001b[1m\u001b[32mHP\u001b[0m> "}`)}},
		{"OOB as GMCP in an envelope", sdk.Message{Name: "get_value", Kwargs: map[string]any{"name": "key", "value": "<Bob>", "options": map[string]any{}}}, colourFlags,
			[]frame{txt(`{"proto":"gmcp","id":"Char.Value.Get","data":"{\"name\":\"key\",\"value\":\"<Bob>\"}"}`)}},
		{"OOB without data", sdk.Message{Name: "logged_in", Kwargs: opts(nil)}, colourFlags,
			[]frame{txt(`{"proto":"gmcp","id":"Logged.In","data":""}`)}},
		{"empty text still ends a line", sdk.Message{Name: "text", Args: []any{""}, Kwargs: opts(map[string]any{"echo": true})}, colourFlags,
			[]frame{bin("\r\n")}},
		{"options outputfunc", sdk.Message{Name: "options"}, colourFlags, nil},
	})
}

func TestJSONStandardDecode(t *testing.T) {
	tests := []struct {
		typ  websocket.MessageType
		in   string
		want input
	}{
		{websocket.MessageBinary, "look\r\n", input{msgs: []sdk.Message{sdk.Text("look")}}},
		{websocket.MessageBinary, "  north \n\n south\r\n", input{msgs: []sdk.Message{sdk.Text("north"), sdk.Text("south")}}},
		{websocket.MessageBinary, " \r\n", input{}},
		{websocket.MessageText, `{"proto":"text","id":"","data":"look"}`, input{msgs: []sdk.Message{sdk.Text("look")}}},
		{websocket.MessageText, `{"proto":"text","data":""}`, input{}},
		{websocket.MessageText, `{"proto":"gmcp","id":"Core.Hello","data":"{\"client\":\"Mudlet\"}"}`,
			input{msgs: []sdk.Message{{Name: "hello", Kwargs: map[string]any{"client": "Mudlet"}}}}},
		{websocket.MessageText, `{"proto":"gmcp","id":"Core.Supports.Get","data":""}`, input{msgs: []sdk.Message{{Name: "client_options"}}}},
		{websocket.MessageText, `{"proto":"gmcp","id":"Char.Value.Get","data":{"name":"key"}}`,
			input{msgs: []sdk.Message{{Name: "get_value", Kwargs: map[string]any{"name": "key"}}}}},
		{websocket.MessageText, `{"proto":"websocket_close","id":"","data":""}`, input{close: true}},
		{websocket.MessageText, `{"proto":"custom","id":"get_value","data":"{\"name\":\"location\"}"}`,
			input{msgs: []sdk.Message{{Name: "get_value", Kwargs: map[string]any{"name": "location"}}}}},
		{websocket.MessageText, `{"proto":"echo","data":"[1,2]"}`, input{msgs: []sdk.Message{{Name: "echo", Args: []any{int64(1), int64(2)}}}}},
		{websocket.MessageText, `{"proto":"echo","data":"not json"}`, input{msgs: []sdk.Message{{Name: "echo", Args: []any{"not json"}}}}},
		{websocket.MessageText, `{"proto":"echo","id":7,"data":"1"}`, input{msgs: []sdk.Message{{Name: "7", Args: []any{int64(1)}}}}},
		{websocket.MessageText, `{"proto":"echo"}`, input{msgs: []sdk.Message{{Name: "echo"}}}},
	}
	for _, tt := range tests {
		got, err := jsonFormat{}.Decode(tt.typ, []byte(tt.in))
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Decode(%v %q) = %#v, %v; want %#v", tt.typ, tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []struct {
		typ  websocket.MessageType
		in   string
		want string
	}{
		{websocket.MessageText, `look`, msgNotJSON},
		{websocket.MessageText, `["text",["look"],{}]`, msgJSONShape},
		{websocket.MessageText, `{"id":"x"}`, msgJSONShape},
		{websocket.MessageText, `{"proto":5}`, msgJSONShape},
		{websocket.MessageText, `{"proto":"gmcp","id":"  ","data":"1"}`, msgJSONShape},
		{websocket.MessageText, `{"proto":"","id":"","data":"1"}`, msgBadFuncName},
		{websocket.MessageBinary, "look\xff", sdk.MsgBadUTF8},
	} {
		_, err := jsonFormat{}.Decode(bad.typ, []byte(bad.in))
		var ie *inputError
		if !errors.As(err, &ie) || ie.client != bad.want {
			t.Errorf("Decode(%v %q) error = %v; want the client told %q", bad.typ, bad.in, err, bad.want)
		}
	}
}

func TestGMCPStandard(t *testing.T) {
	checkEncode(t, gmcpFormat{}, []encodeCase{
		{"text", sdk.Message{Name: "text", Args: []any{"|rHi"}, Kwargs: opts(nil)}, colourFlags,
			[]frame{bin("\x1b[1m\x1b[31mHi\x1b[0m\r\n")}},
		{"prompt as text without a line end", sdk.Message{Name: "prompt", Args: []any{"> "}, Kwargs: opts(nil)}, colourFlags,
			[]frame{bin("> ")}},
		{"OOB as GMCP", sdk.Message{Name: "client_options", Kwargs: map[string]any{"SCREENWIDTH": int64(80), "options": map[string]any{}}}, colourFlags,
			[]frame{txt(`Core.Supports.Get {"SCREENWIDTH":80}`)}},
		{"OOB with args", sdk.Message{Name: "char_vitals", Args: []any{int64(1), "two"}, Kwargs: map[string]any{"hp": int64(3)}}, colourFlags,
			[]frame{txt(`Char.Vitals [[1,"two"],{"hp":3}]`)}},
		{"logged_in", sdk.Message{Name: "logged_in", Kwargs: opts(nil)}, colourFlags, []frame{txt(`Logged.In`)}},
	})
	tests := []struct {
		typ  websocket.MessageType
		in   string
		want input
	}{
		{websocket.MessageBinary, "say hi\n", input{msgs: []sdk.Message{sdk.Text("say hi")}}},
		{websocket.MessageText, `Core.Hello {"client":"Mudlet","version":"4.17"}`,
			input{msgs: []sdk.Message{{Name: "hello", Kwargs: map[string]any{"client": "Mudlet", "version": "4.17"}}}}},
		{websocket.MessageText, `Char.Value.Get {"name":"key"}`, input{msgs: []sdk.Message{{Name: "get_value", Kwargs: map[string]any{"name": "key"}}}}},
		{websocket.MessageText, `  `, input{}},
	}
	for _, tt := range tests {
		got, err := gmcpFormat{}.Decode(tt.typ, []byte(tt.in))
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Decode(%v %q) = %#v, %v; want %#v", tt.typ, tt.in, got, err, tt.want)
		}
	}
	if _, err := (gmcpFormat{}).Decode(websocket.MessageText, []byte("Core.")); err == nil {
		t.Error("an unusable GMCP package was accepted")
	}
}

func TestTerminalStandard(t *testing.T) {
	checkEncode(t, terminalFormat{}, []encodeCase{
		{"text", sdk.Message{Name: "text", Args: []any{"|gok"}, Kwargs: opts(nil)}, colourFlags, []frame{bin("\x1b[1m\x1b[32mok\x1b[0m\r\n")}},
		{"plain for a screen reader", sdk.Message{Name: "text", Args: []any{"|gok"}, Kwargs: opts(nil)},
			renderFlagsOfMap(map[string]any{"SCREENREADER": true}), []frame{bin("ok\r\n")}},
		{"16 colours when asked", sdk.Message{Name: "text", Args: []any{"|500red"}, Kwargs: opts(nil)},
			renderFlags{mode: markup.ANSI16}, []frame{bin("\x1b[1m\x1b[31mred\x1b[0m\r\n")}},
		{"prompt", sdk.Message{Name: "prompt", Args: []any{"> "}, Kwargs: opts(nil)}, colourFlags, []frame{bin("> ")}},
		{"OOB is dropped", sdk.Message{Name: "logged_in", Kwargs: opts(nil)}, colourFlags, nil},
	})
	for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
		got, err := terminalFormat{}.Decode(typ, []byte("look\r\nsay hi"))
		want := input{msgs: []sdk.Message{sdk.Text("look"), sdk.Text("say hi")}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Decode(%v) = %#v, %v; want %#v", typ, got, err, want)
		}
	}
}

func TestNegotiated(t *testing.T) {
	for in, want := range map[string]string{
		"":                          ProtoV1,
		"v1.evennia.com":            ProtoV1,
		"JSON.mudstandards.org":     ProtoJSON,
		"gmcp.mudstandards.org":     ProtoGMCP,
		"terminal.mudstandards.org": ProtoTerminal,
		"something.else":            ProtoV1,
	} {
		if got := negotiated(in).Name(); got != want {
			t.Errorf("negotiated(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSplitLines(t *testing.T) {
	for in, want := range map[string][]string{
		"":             {""},
		"a":            {"a"},
		"a\n":          {"a"},
		"a\r\nb":       {"a", "b"},
		"a\n\rb\rc\nd": {"a", "b", "c", "d"},
		"a\n\nb":       {"a", "", "b"},
	} {
		if got := splitLines(in); !reflect.DeepEqual(got, want) {
			t.Errorf("splitLines(%q) = %q, want %q", in, got, want)
		}
	}
}

// renderFlagsOfMap is renderFlagsOf for flags given as a map.
func renderFlagsOfMap(m map[string]any) renderFlags {
	f := contract.FlagsOf(m)
	return renderFlagsOf(&f)
}
