package gmcp

import (
	"reflect"
	"testing"

	"github.com/portico-mud/portico/sdk/contract"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in   string
		want contract.Message
		ok   bool
	}{
		{`Core.Hello {"client":"Mudlet"}`, contract.Message{Name: "hello", Kwargs: map[string]any{"client": "Mudlet"}}, true},
		{`Core.Supports.Get`, contract.Message{Name: "client_options"}, true},
		{`Core.Commands.Get`, contract.Message{Name: "get_inputfuncs"}, true},
		{`Char.Value.Get {"name":"location"}`, contract.Message{Name: "get_value", Kwargs: map[string]any{"name": "location"}}, true},
		{`Char.Repeat.Update {"callback":"test1"}`, contract.Message{Name: "repeat", Kwargs: map[string]any{"callback": "test1"}}, true},
		{`Char.Monitor.Update {"name":"name"}`, contract.Message{Name: "monitor", Kwargs: map[string]any{"name": "name"}}, true},
		{`Core.Supports.Set ["Char 1", "Room 1"]`, contract.Message{Name: "supports_set", Args: []any{"Char 1", "Room 1"}}, true},
		{`Char.Login ["bob", 2]`, contract.Message{Name: "char_login", Args: []any{"bob", int64(2)}}, true},
		{`core.ping`, contract.Message{Name: "ping"}, true},
		{`Some.Thing 42`, contract.Message{Name: "some_thing", Args: []any{int64(42)}}, true},
		{`Some.Thing "x"`, contract.Message{Name: "some_thing", Args: []any{"x"}}, true},
		{`Some.Thing not json`, contract.Message{Name: "some_thing", Args: []any{"not json"}}, true},
		{`Some.Thing null`, contract.Message{Name: "some_thing", Args: []any{nil}}, true},
		{`Some.Thing {"":1,"a":2}`, contract.Message{Name: "some_thing", Kwargs: map[string]any{"a": int64(2)}}, true},
		{"  Core.Hello  \t", contract.Message{Name: "hello"}, true},
		{"", contract.Message{}, false},
		{"   ", contract.Message{}, false},
		{"Core.", contract.Message{}, false},
		{"Bad\xff.Name x", contract.Message{Name: "bad\uFFFD_name", Args: []any{"x"}}, true},
	}
	for _, tt := range tests {
		got, ok := Decode(tt.in)
		if ok != tt.ok || (ok && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("Decode(%q) = %#v, %v; want %#v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		m    contract.Message
		want string
	}{
		{contract.Message{Name: "logged_in"}, "Logged.In"},
		{contract.Message{Name: "ping"}, "Core.Ping"},
		{contract.Message{Name: "Ping"}, "Core.Ping"},
		{contract.Message{Name: "room_INFO", Args: []any{"x"}}, `Room.INFO "x"`},
		{contract.Message{Name: "get_inputfuncs", Kwargs: map[string]any{"text": "doc"}}, `Core.Commands.Get {"text":"doc"}`},
		{contract.Message{Name: "repeat", Args: []any{"a", "b"}}, `Char.Repeat.Update ["a","b"]`},
		{contract.Message{Name: "monitor", Args: []any{"a"}, Kwargs: map[string]any{"k": nil}}, `Char.Monitor.Update ["a",{"k":null}]`},
		{contract.Message{Name: "x", Kwargs: map[string]any{"options": map[string]any{}}}, "Core.X"},
		{contract.Message{Name: "x", Args: []any{"<&>"}}, `Core.X "<&>"`},
	}
	for _, tt := range tests {
		if got := Encode(tt.m); got != tt.want {
			t.Errorf("Encode(%#v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}

// TestRoundTrip: what Encode sends, Decode reads back as the same call
// for names GMCP can spell both ways.
func TestRoundTrip(t *testing.T) {
	for _, m := range []contract.Message{
		{Name: "char_vitals", Kwargs: map[string]any{"hp": int64(3)}},
		{Name: "room_info", Args: []any{"a", "b"}},
		{Name: "get_value", Kwargs: map[string]any{"name": "key"}},
	} {
		got, ok := Decode(Encode(m))
		if !ok || !reflect.DeepEqual(got, m) {
			t.Errorf("Decode(Encode(%#v)) = %#v, %v", m, got, ok)
		}
	}
}
