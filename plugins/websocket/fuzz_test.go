package main

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// FuzzDecode: no client message makes a wire format panic; what one
// accepts names an inputfunc, and what one refuses says why.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`["text",["look"],{}]`, `["websocket_close",[],{}]`, `[1,2,3]`, `["a",null,null,4]`, `{`, ``,
		`{"proto":"gmcp","id":"Core.Hello","data":"{}"}`, `{"proto":"x","id":7,"data":[1]}`,
		"Core.Supports.Get", "look\r\nsay hi\n", "\xff\xfe", `["text",["` + "\u2028" + `"],{"cmdid":1}]`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, data string, binary bool) {
		typ := websocket.MessageText
		if binary {
			typ = websocket.MessageBinary
		}
		for _, w := range []wireFormat{v1Format{}, jsonFormat{}, gmcpFormat{}, terminalFormat{}} {
			in, err := w.Decode(typ, []byte(data))
			if err != nil {
				var ie *inputError
				if !errors.As(err, &ie) || ie.client == "" {
					t.Fatalf("%s: refusal without a message for the client: %v", w.Name(), err)
				}
				continue
			}
			for _, m := range in.msgs {
				if m.Name == "" || !utf8.ValidString(m.Name) {
					t.Fatalf("%s: Decode(%q) gave inputfunc name %q", w.Name(), data, m.Name)
				}
			}
		}
	})
}
