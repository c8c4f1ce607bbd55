package contract

import (
	"reflect"
	"strings"
	"testing"

	"github.com/portico-mud/portico/sdk/portalpb"
)

func TestMessageRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   Message
		// strArgs is whether the str_args fast path is expected.
		strArgs bool
		want    Message
	}{
		{
			name:    "text",
			in:      Text("hello"),
			strArgs: true,
			want:    Message{Name: "text", Args: []any{"hello"}},
		},
		{
			name:    "prompt",
			in:      Prompt("> "),
			strArgs: true,
			want:    Message{Name: "prompt", Args: []any{"> "}},
		},
		{
			name:    "several strings, an empty one among them",
			in:      Message{Name: "text", Args: []any{"a", "", "c"}},
			strArgs: true,
			want:    Message{Name: "text", Args: []any{"a", "", "c"}},
		},
		{
			name:    "no args",
			in:      Message{Name: "look", Args: []any{}},
			strArgs: true,
			want:    Message{Name: "look"},
		},
		{
			name: "mixed args",
			in: Message{Name: "gmcp", Args: []any{
				"Char.Vitals", 3, int64(-7), uint8(200), 2.5, float32(0.5), true, nil,
				[]any{1, "x", 1.25}, map[string]any{"hp": 10, "name": "Bob"},
			}},
			want: Message{Name: "gmcp", Args: []any{
				"Char.Vitals", int64(3), int64(-7), int64(200), 2.5, 0.5, true, nil,
				[]any{int64(1), "x", 1.25}, map[string]any{"hp": int64(10), "name": "Bob"},
			}},
		},
		{
			name:    "kwargs with string args",
			in:      Message{Name: "text", Args: []any{"hi"}, Kwargs: map[string]any{"options": map[string]any{"raw": true, "width": 80}}},
			strArgs: true,
			want:    Message{Name: "text", Args: []any{"hi"}, Kwargs: map[string]any{"options": map[string]any{"raw": true, "width": int64(80)}}},
		},
		{
			name: "kwargs only",
			in:   Message{Name: "client_options", Kwargs: map[string]any{"screenwidth": 120, "ratio": 1.5, "list": []any{1, 2}}},
			want: Message{Name: "client_options", Kwargs: map[string]any{"screenwidth": int64(120), "ratio": 1.5,
				"list": []any{int64(1), int64(2)}}},
			strArgs: true,
		},
		{
			name: "big integers stay exact",
			in:   Message{Name: "n", Args: []any{int64(1) << 62, int64(-1) << 62}},
			want: Message{Name: "n", Args: []any{int64(1) << 62, int64(-1) << 62}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pm, err := MessageToPB(tt.in)
			if err != nil {
				t.Fatalf("MessageToPB: %v", err)
			}
			if pm.GetName() != tt.in.Name {
				t.Errorf("name = %q, want %q", pm.GetName(), tt.in.Name)
			}
			if tt.strArgs {
				if pm.GetArgsJson() != nil {
					t.Errorf("args_json = %s, want the str_args fast path", pm.GetArgsJson())
				}
				if len(tt.in.Args) > 0 && len(pm.GetStrArgs()) != len(tt.in.Args) {
					t.Errorf("str_args = %q, want %d strings", pm.GetStrArgs(), len(tt.in.Args))
				}
			} else {
				if pm.GetStrArgs() != nil {
					t.Errorf("str_args = %q, want JSON args", pm.GetStrArgs())
				}
				if len(pm.GetArgsJson()) == 0 {
					t.Errorf("args_json empty")
				}
			}
			if len(tt.in.Kwargs) == 0 && pm.GetKwargsJson() != nil {
				t.Errorf("kwargs_json = %s, want none", pm.GetKwargsJson())
			}
			got, err := MessageFromPB(pm)
			if err != nil {
				t.Fatalf("MessageFromPB: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("round trip:\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestMessagesBatchRoundTrip(t *testing.T) {
	in := []Message{Text("one"), {Name: "n", Args: []any{1}}, Prompt("> ")}
	pms, err := MessagesToPB(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(pms) != 3 {
		t.Fatalf("%d wire messages, want 3", len(pms))
	}
	got, err := MessagesFromPB(pms)
	if err != nil {
		t.Fatal(err)
	}
	want := []Message{Text("one"), {Name: "n", Args: []any{int64(1)}}, Prompt("> ")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	if got, err := MessagesFromPB(nil); err != nil || len(got) != 0 {
		t.Errorf("MessagesFromPB(nil) = %v, %v", got, err)
	}
}

func TestMessageToPBErrors(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	for _, m := range []Message{
		{Name: "f", Args: []any{func() {}}},
		{Name: "c", Args: []any{make(chan int)}},
		{Name: "k", Kwargs: map[string]any{"f": func() {}}},
		{Name: "cycle", Kwargs: cyclic},
	} {
		if _, err := MessageToPB(m); err == nil {
			t.Errorf("MessageToPB(%s): no error", m.Name)
		} else if !strings.Contains(err.Error(), m.Name) {
			t.Errorf("MessageToPB(%s): error %q does not name the message", m.Name, err)
		}
	}
	if _, err := MessagesToPB([]Message{Text("ok"), {Name: "bad", Args: []any{func() {}}}}); err == nil {
		t.Error("MessagesToPB with a bad message: no error")
	}
}

func TestMessageFromPBErrors(t *testing.T) {
	for name, pm := range map[string]*portalpb.Message{
		"args not JSON":      {Name: "a", ArgsJson: []byte(`[1,`)},
		"args not an array":  {Name: "a", ArgsJson: []byte(`{"a":1}`)},
		"args null":          {Name: "a", ArgsJson: []byte(`null`)},
		"args trailing data": {Name: "a", ArgsJson: []byte(`[1]]`)},
		"kwargs not JSON":    {Name: "k", KwargsJson: []byte(`{`)},
		"kwargs not object":  {Name: "k", KwargsJson: []byte(`[1]`)},
	} {
		if _, err := MessageFromPB(pm); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := MessagesFromPB([]*portalpb.Message{{Name: "text", StrArgs: []string{"x"}}, pm}); err == nil {
			t.Errorf("%s: MessagesFromPB: no error", name)
		}
	}
}

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
