package wire

import (
	"reflect"
	"strings"
	"testing"

	"github.com/portico-mud/portico/sdk/contract"

	"github.com/portico-mud/portico/sdk/portalpb"
)

func TestMessageRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   contract.Message
		// strArgs is whether the str_args fast path is expected.
		strArgs bool
		want    contract.Message
	}{
		{
			name:    "text",
			in:      contract.Text("hello"),
			strArgs: true,
			want:    contract.Message{Name: "text", Args: []any{"hello"}},
		},
		{
			name:    "prompt",
			in:      contract.Prompt("> "),
			strArgs: true,
			want:    contract.Message{Name: "prompt", Args: []any{"> "}},
		},
		{
			name:    "several strings, an empty one among them",
			in:      contract.Message{Name: "text", Args: []any{"a", "", "c"}},
			strArgs: true,
			want:    contract.Message{Name: "text", Args: []any{"a", "", "c"}},
		},
		{
			name:    "no args",
			in:      contract.Message{Name: "look", Args: []any{}},
			strArgs: true,
			want:    contract.Message{Name: "look"},
		},
		{
			name: "mixed args",
			in: contract.Message{Name: "gmcp", Args: []any{
				"Char.Vitals", 3, int64(-7), uint8(200), 2.5, float32(0.5), true, nil,
				[]any{1, "x", 1.25}, map[string]any{"hp": 10, "name": "Bob"},
			}},
			want: contract.Message{Name: "gmcp", Args: []any{
				"Char.Vitals", int64(3), int64(-7), int64(200), 2.5, 0.5, true, nil,
				[]any{int64(1), "x", 1.25}, map[string]any{"hp": int64(10), "name": "Bob"},
			}},
		},
		{
			name:    "kwargs with string args",
			in:      contract.Message{Name: "text", Args: []any{"hi"}, Kwargs: map[string]any{"options": map[string]any{"raw": true, "width": 80}}},
			strArgs: true,
			want:    contract.Message{Name: "text", Args: []any{"hi"}, Kwargs: map[string]any{"options": map[string]any{"raw": true, "width": int64(80)}}},
		},
		{
			name: "kwargs only",
			in:   contract.Message{Name: "client_options", Kwargs: map[string]any{"screenwidth": 120, "ratio": 1.5, "list": []any{1, 2}}},
			want: contract.Message{Name: "client_options", Kwargs: map[string]any{"screenwidth": int64(120), "ratio": 1.5,
				"list": []any{int64(1), int64(2)}}},
			strArgs: true,
		},
		{
			name: "big integers stay exact",
			in:   contract.Message{Name: "n", Args: []any{int64(1) << 62, int64(-1) << 62}},
			want: contract.Message{Name: "n", Args: []any{int64(1) << 62, int64(-1) << 62}},
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
	in := []contract.Message{contract.Text("one"), {Name: "n", Args: []any{1}}, contract.Prompt("> ")}
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
	want := []contract.Message{contract.Text("one"), {Name: "n", Args: []any{int64(1)}}, contract.Prompt("> ")}
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
	for _, m := range []contract.Message{
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
	if _, err := MessagesToPB([]contract.Message{contract.Text("ok"), {Name: "bad", Args: []any{func() {}}}}); err == nil {
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
