package contract

import (
	"reflect"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`1`, int64(1)},
		{`-9223372036854775808`, int64(-9223372036854775808)},
		{`9223372036854775808`, 9223372036854775808.0}, // past int64: float64
		{`1.5`, 1.5},
		{`1e3`, 1000.0},
		{`1e400`, "1e400"}, // out of float64 range: kept as its text
		{`"s"`, "s"},
		{`null`, nil},
		{`true`, true},
		{` [1, {"a": [2.5, 3]}] ` + "\n\t\r", []any{int64(1), map[string]any{"a": []any{2.5, int64(3)}}}},
	}
	for _, tt := range tests {
		got, err := DecodeJSON([]byte(tt.in))
		if err != nil {
			t.Errorf("DecodeJSON(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("DecodeJSON(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestDecodeJSONRejects(t *testing.T) {
	for _, in := range []string{
		``, `   `, `[1`, `{"a":}`,
		// Trailing data after one whole value.
		`1 2`, `[1] x`, `{} {}`, `"a""b"`, `[1]]`, `{}}`, `null,`,
	} {
		if v, err := DecodeJSON([]byte(in)); err == nil {
			t.Errorf("DecodeJSON(%q) = %#v, want an error", in, v)
		}
	}
}

func TestMessageHelpers(t *testing.T) {
	m := Message{Name: "text", Args: []any{"hi", 2}, Kwargs: map[string]any{"options": map[string]any{"raw": true}}}
	if s, ok := m.FirstString(); !ok || s != "hi" {
		t.Errorf("FirstString = %q, %v", s, ok)
	}
	if o := m.Options(); o["raw"] != true {
		t.Errorf("Options = %v", o)
	}
	if _, ok := (Message{Name: "x"}).FirstString(); ok {
		t.Error("FirstString of no args: ok")
	}
	if _, ok := (Message{Name: "x", Args: []any{1}}).FirstString(); ok {
		t.Error("FirstString of an int: ok")
	}
	if o := (Message{Name: "x", Kwargs: map[string]any{"options": "nope"}}).Options(); o != nil {
		t.Errorf("Options of a non-map = %v", o)
	}
}
