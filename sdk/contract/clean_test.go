package contract

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
)

// dbObject stands in for an Evennia database object: it is only ever sent as
// its string form.
type dbObject struct{ key string }

func (o dbObject) String() string { return "Object(" + o.key + ")" }

// ptrObject implements fmt.Stringer on its pointer only.
type ptrObject struct{ key string }

func (o *ptrObject) String() string { return "Ptr(" + o.key + ")" }

type (
	namedString string
	namedSlice  []int
	namedBytes  []byte
	namedMap    map[string]int
)

// opts builds the options map every message carries.
func opts(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// kw builds a message's Kwargs from key/value pairs plus its options.
func kw(options map[string]any, kv ...any) map[string]any {
	m := opts(kv...)
	m["options"] = options
	return m
}

func TestCleanSendData(t *testing.T) {
	none := opts()
	intPtr := func(i int) *int { return &i }
	tests := []struct {
		name     string
		data     map[string]any
		encoding string
		want     []Message
		wantBad  bool
	}{
		{
			name: "text string",
			data: map[string]any{"text": "hello"},
			want: []Message{{Name: "text", Args: []any{"hello"}, Kwargs: kw(none)}},
		},
		{
			name: "nil data",
			data: nil,
			want: []Message{},
		},
		{
			name: "falsy text is dropped",
			data: map[string]any{"text": ""},
			want: []Message{},
		},
		{
			name: "nil text is dropped even with options",
			data: map[string]any{"text": nil, "options": map[string]any{"raw": true}},
			want: []Message{},
		},
		{
			name: "false text is dropped, zero prompt kept",
			data: map[string]any{"text": false, "prompt": 0},
			want: []Message{{Name: "prompt", Kwargs: kw(none)}},
		},
		{
			name: "zero float text is dropped",
			data: map[string]any{"text": 0.0},
			want: []Message{},
		},
		{
			name: "empty map text is dropped",
			data: map[string]any{"text": map[string]any{}},
			want: []Message{},
		},
		{
			name: "empty slice text is dropped",
			data: map[string]any{"text": []any{}},
			want: []Message{},
		},
		{
			name: "falsy values of other names are kept empty",
			data: map[string]any{
				"a_nil": nil, "b_false": false, "c_zero": 0, "d_zerof": 0.0,
				"e_empty": "", "f_slice": []any{}, "g_map": map[string]any{},
				"h_bytes": []byte{}, "i_strs": []string(nil), "j_uint8": uint8(0),
				"k_nilptr": (*int)(nil),
			},
			want: []Message{
				{Name: "a_nil", Kwargs: kw(none)},
				{Name: "b_false", Kwargs: kw(none)},
				{Name: "c_zero", Kwargs: kw(none)},
				{Name: "d_zerof", Kwargs: kw(none)},
				{Name: "e_empty", Kwargs: kw(none)},
				{Name: "f_slice", Kwargs: kw(none)},
				{Name: "g_map", Kwargs: kw(none)},
				{Name: "h_bytes", Kwargs: kw(none)},
				{Name: "i_strs", Kwargs: kw(none)},
				{Name: "j_uint8", Kwargs: kw(none)},
				{Name: "k_nilptr", Kwargs: kw(none)},
			},
		},
		{
			name: "falsy prompt is kept",
			data: map[string]any{"prompt": ""},
			want: []Message{{Name: "prompt", Kwargs: kw(none)}},
		},
		{
			name: "map gives kwargs",
			data: map[string]any{"msdp": map[string]any{"HEALTH": 10, "NAME": "Bob"}},
			want: []Message{{Name: "msdp", Kwargs: kw(none, "HEALTH", int64(10), "NAME", "Bob")}},
		},
		{
			name: "map[string]string gives kwargs",
			data: map[string]any{"client_options": map[string]string{"ansi": "on"}},
			want: []Message{{Name: "client_options", Kwargs: kw(none, "ansi", "on")}},
		},
		{
			name: "map with int keys",
			data: map[string]any{"screen": map[int]int{0: 78}},
			want: []Message{{Name: "screen", Kwargs: kw(none, "0", int64(78))}},
		},
		{
			name: "two items ending in a map",
			data: map[string]any{"text": []any{"look", map[string]any{"type": "look"}}},
			want: []Message{{Name: "text", Args: []any{"look"}, Kwargs: kw(none, "type", "look")}},
		},
		{
			name: "two items whose first is a list",
			data: map[string]any{"text": []any{[]any{"a", 1}, map[string]any{"k": "v"}}},
			want: []Message{{Name: "text", Args: []any{"a", int64(1)}, Kwargs: kw(none, "k", "v")}},
		},
		{
			name: "two items whose first is a []string",
			data: map[string]any{"text": []any{[]string{"a", "b"}, map[string]any{}}},
			want: []Message{{Name: "text", Args: []any{"a", "b"}, Kwargs: kw(none)}},
		},
		{
			name: "two items whose first is an empty list",
			data: map[string]any{"text": []any{[]any{}, map[string]any{"k": 1}}},
			want: []Message{{Name: "text", Kwargs: kw(none, "k", int64(1))}},
		},
		{
			name: "two items whose first is bytes",
			data: map[string]any{"text": []any{[]byte("hi"), map[string]any{}}},
			want: []Message{{Name: "text", Args: []any{"hi"}, Kwargs: kw(none)}},
		},
		{
			name: "two items whose first is a map",
			data: map[string]any{"x": []any{map[string]any{"a": 1}, map[string]any{"b": 2}}},
			want: []Message{{Name: "x", Args: []any{map[string]any{"a": int64(1)}}, Kwargs: kw(none, "b", int64(2))}},
		},
		{
			name: "three items ending in a map",
			data: map[string]any{"text": []any{"a", []any{"b"}, map[string]any{"k": "v"}}},
			want: []Message{{Name: "text", Args: []any{"a", []any{"b"}}, Kwargs: kw(none, "k", "v")}},
		},
		{
			name: "one item that is a map",
			data: map[string]any{"x": []any{map[string]any{"k": "v"}}},
			want: []Message{{Name: "x", Kwargs: kw(none, "k", "v")}},
		},
		{
			name: "list without a map",
			data: map[string]any{"text": []any{"a", 2, 3.5, true, nil}},
			want: []Message{{Name: "text", Args: []any{"a", int64(2), 3.5, true, nil}, Kwargs: kw(none)}},
		},
		{
			name: "[]string",
			data: map[string]any{"text": []string{"a", "b"}},
			want: []Message{{Name: "text", Args: []any{"a", "b"}, Kwargs: kw(none)}},
		},
		{
			name: "reflected slice and array",
			data: map[string]any{"a": namedSlice{1, 2}, "b": [2]float32{0.5, 1}},
			want: []Message{
				{Name: "a", Args: []any{int64(1), int64(2)}, Kwargs: kw(none)},
				{Name: "b", Args: []any{0.5, 1.0}, Kwargs: kw(none)},
			},
		},
		{
			name: "reflected slice ending in a reflected map",
			data: map[string]any{"a": []any{"x", namedMap{"n": 1}}},
			want: []Message{{Name: "a", Args: []any{"x"}, Kwargs: kw(none, "n", int64(1))}},
		},
		{
			name: "scalars",
			data: map[string]any{
				"int": 7, "int8": int8(-8), "uint16": uint16(16), "uint64": uint64(64),
				"big": uint64(math.MaxUint64), "float": 1.5, "float32": float32(0.25),
				"bool": true, "named": namedString("n"), "ptr": intPtr(5),
				"number": json.Number("12"), "numberf": json.Number("1.5"),
			},
			want: []Message{
				{Name: "big", Args: []any{float64(math.MaxUint64)}, Kwargs: kw(none)},
				{Name: "bool", Args: []any{true}, Kwargs: kw(none)},
				{Name: "float", Args: []any{1.5}, Kwargs: kw(none)},
				{Name: "float32", Args: []any{0.25}, Kwargs: kw(none)},
				{Name: "int", Args: []any{int64(7)}, Kwargs: kw(none)},
				{Name: "int8", Args: []any{int64(-8)}, Kwargs: kw(none)},
				{Name: "named", Args: []any{"n"}, Kwargs: kw(none)},
				{Name: "number", Args: []any{int64(12)}, Kwargs: kw(none)},
				{Name: "numberf", Args: []any{1.5}, Kwargs: kw(none)},
				{Name: "ptr", Args: []any{int64(5)}, Kwargs: kw(none)},
				{Name: "uint16", Args: []any{int64(16)}, Kwargs: kw(none)},
				{Name: "uint64", Args: []any{int64(64)}, Kwargs: kw(none)},
			},
		},
		{
			name: "Stringers",
			data: map[string]any{
				"a": dbObject{"sword"},
				"b": []any{dbObject{"x"}, map[string]any{"who": &ptrObject{"y"}}},
				"c": time.Second,
				"d": (*ptrObject)(nil),
				"e": []any{(*ptrObject)(nil), 1},
			},
			want: []Message{
				{Name: "a", Args: []any{"Object(sword)"}, Kwargs: kw(none)},
				{Name: "b", Args: []any{"Object(x)"}, Kwargs: kw(none, "who", "Ptr(y)")},
				{Name: "c", Args: []any{"1s"}, Kwargs: kw(none)},
				{Name: "d", Kwargs: kw(none)},
				{Name: "e", Args: []any{nil, int64(1)}, Kwargs: kw(none)},
			},
		},
		{
			name: "bytes at top level and nested",
			data: map[string]any{
				"text": []byte("héllo"),
				"x": []any{
					[]byte("a"),
					[]any{[]byte("b"), map[string]any{"c": []byte("c")}},
					map[string]any{"d": [][]byte{[]byte("d")}, "e": namedBytes("e")},
				},
			},
			want: []Message{
				{Name: "text", Args: []any{"héllo"}, Kwargs: kw(none)},
				{Name: "x", Args: []any{"a", []any{"b", map[string]any{"c": "c"}}},
					Kwargs: kw(none, "d", []any{"d"}, "e", "e")},
			},
		},
		{
			name:    "bad utf-8",
			data:    map[string]any{"text": []any{[]byte("ok"), []byte{0xff, 'x'}}, "y": []byte{0xc3}},
			want:    []Message{{Name: "text", Args: []any{"ok", ""}, Kwargs: kw(none)}, {Name: "y", Args: []any{""}, Kwargs: kw(none)}},
			wantBad: true,
		},
		{
			name:    "utf-8 rejects surrogates like Python",
			data:    map[string]any{"text": []byte{0xed, 0xa0, 0x80}},
			want:    []Message{{Name: "text", Args: []any{""}, Kwargs: kw(none)}},
			wantBad: true,
		},
		{
			name:     "latin-1",
			data:     map[string]any{"text": []byte("caf\xe9"), "ascii": []byte("plain")},
			encoding: "latin-1",
			want: []Message{
				{Name: "text", Args: []any{"café"}, Kwargs: kw(none)},
				{Name: "ascii", Args: []any{"plain"}, Kwargs: kw(none)},
			},
		},
		{
			name:     "latin-1 alias",
			data:     map[string]any{"text": []byte("\xff")},
			encoding: "ISO-8859-1",
			want:     []Message{{Name: "text", Args: []any{"ÿ"}, Kwargs: kw(none)}},
		},
		{
			name:     "utf-8 alias",
			data:     map[string]any{"text": []byte("é")},
			encoding: "UTF_8",
			want:     []Message{{Name: "text", Args: []any{"é"}, Kwargs: kw(none)}},
		},
		{
			name:     "ascii",
			data:     map[string]any{"text": []any{[]byte("ok"), []byte("caf\xe9")}},
			encoding: "ascii",
			want:     []Message{{Name: "text", Args: []any{"ok", ""}, Kwargs: kw(none)}},
			wantBad:  true,
		},
		{
			name:     "unknown encoding falls back to utf-8",
			data:     map[string]any{"text": []byte("é")},
			encoding: "klingon",
			want:     []Message{{Name: "text", Args: []any{"é"}, Kwargs: kw(none)}},
		},
		{
			name:     "unknown encoding with bad utf-8",
			data:     map[string]any{"text": []byte("caf\xe9")},
			encoding: "klingon",
			want:     []Message{{Name: "text", Args: []any{""}, Kwargs: kw(none)}},
			wantBad:  true,
		},
		{
			name:     "empty encoding is utf-8",
			data:     map[string]any{"text": []byte("é")},
			encoding: "",
			want:     []Message{{Name: "text", Args: []any{"é"}, Kwargs: kw(none)}},
		},
		{
			name: "options reach every message",
			data: map[string]any{
				"options": map[string]any{"raw": true, "n": 2},
				"text":    "hi",
				"prompt":  ">",
				"x":       map[string]any{"k": "v"},
				"y":       nil,
			},
			want: []Message{
				{Name: "text", Args: []any{"hi"}, Kwargs: kw(opts("raw", true, "n", int64(2)))},
				{Name: "x", Kwargs: kw(opts("raw", true, "n", int64(2)), "k", "v")},
				{Name: "y", Kwargs: kw(opts("raw", true, "n", int64(2)))},
				{Name: "prompt", Args: []any{">"}, Kwargs: kw(opts("raw", true, "n", int64(2)))},
			},
		},
		{
			name: "options as map[string]string",
			data: map[string]any{"options": map[string]string{"screenreader": "yes"}, "text": "hi"},
			want: []Message{{Name: "text", Args: []any{"hi"}, Kwargs: kw(opts("screenreader", "yes"))}},
		},
		{
			name: "nil and non-map options count as none",
			data: map[string]any{"options": "raw", "text": "hi"},
			want: []Message{{Name: "text", Args: []any{"hi"}, Kwargs: kw(none)}},
		},
		{
			name: "options key inside kwargs is overwritten",
			data: map[string]any{"options": map[string]any{"raw": true}, "x": map[string]any{"options": "mine", "k": 1}},
			want: []Message{{Name: "x", Kwargs: kw(opts("raw", true), "k", int64(1))}},
		},
		{
			name: "only options",
			data: map[string]any{"options": map[string]any{"raw": true}},
			want: []Message{},
		},
		{
			name: "text first, prompt last, others sorted",
			data: map[string]any{"prompt": "> ", "zeta": 1, "alpha": 2, "text": "t", "Beta": 3},
			want: []Message{
				{Name: "text", Args: []any{"t"}, Kwargs: kw(none)},
				{Name: "Beta", Args: []any{int64(3)}, Kwargs: kw(none)},
				{Name: "alpha", Args: []any{int64(2)}, Kwargs: kw(none)},
				{Name: "zeta", Args: []any{int64(1)}, Kwargs: kw(none)},
				{Name: "prompt", Args: []any{"> "}, Kwargs: kw(none)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, bad := CleanSendData(tt.data, tt.encoding)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CleanSendData(%#v, %q)\n got  %#v\n want %#v", tt.data, tt.encoding, got, tt.want)
			}
			if bad != tt.wantBad {
				t.Errorf("badEncoding = %v, want %v", bad, tt.wantBad)
			}
			for _, m := range got {
				if m.Kwargs == nil {
					t.Errorf("message %q has nil Kwargs", m.Name)
				}
				for i, a := range m.Args {
					if err := jsonShaped(a); err != nil {
						t.Errorf("message %q arg %d: %v", m.Name, i, err)
					}
				}
				if err := jsonShaped(m.Kwargs); err != nil {
					t.Errorf("message %q kwargs: %v", m.Name, err)
				}
				if err := encodable(m); err != nil {
					t.Errorf("message %q does not encode: %v", m.Name, err)
				}
			}
		})
	}
}

// encodable reports whether the link can carry m: sdk/wire encodes
// arguments and kwargs as JSON, so what json.Marshal refuses it refuses.
func encodable(m Message) error {
	if _, err := json.Marshal(m.Args); err != nil {
		return err
	}
	_, err := json.Marshal(m.Kwargs)
	return err
}

// jsonShaped reports an error unless v is built only from the types
// Message documents.
func jsonShaped(v any) error {
	switch x := v.(type) {
	case nil, bool, int64, float64, string:
		return nil
	case []any:
		if x == nil {
			return fmt.Errorf("nil []any")
		}
		for _, e := range x {
			if err := jsonShaped(e); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		if x == nil {
			return fmt.Errorf("nil map[string]any")
		}
		for _, e := range x {
			if err := jsonShaped(e); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%T is not JSON-shaped", v)
}

func TestCleanSendDataOptionsAreCopies(t *testing.T) {
	options := map[string]any{"raw": true}
	msgs, _ := CleanSendData(map[string]any{"options": options, "a": 1, "b": 2}, "utf-8")
	msgs[0].Options()["raw"] = false
	if msgs[1].Options()["raw"] != true {
		t.Errorf("messages share one options map")
	}
	if options["raw"] != true {
		t.Errorf("the caller's options map was changed")
	}
}

func TestCleanSendDataLeavesInputAlone(t *testing.T) {
	inner := map[string]any{"k": []byte("v")}
	list := []any{[]byte("a"), inner}
	data := map[string]any{"options": map[string]any{"raw": true}, "text": list, "x": inner}
	msgs, _ := CleanSendData(data, "utf-8")
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	if _, ok := data["options"]; !ok {
		t.Errorf("options was removed from the caller's map")
	}
	if _, ok := list[0].([]byte); !ok {
		t.Errorf("the caller's list was changed: %#v", list)
	}
	if _, ok := inner["options"]; ok {
		t.Errorf("options was added to the caller's kwargs map")
	}
	if _, ok := inner["k"].([]byte); !ok {
		t.Errorf("the caller's kwargs map was changed: %#v", inner)
	}
}

func TestCleanSendDataCycle(t *testing.T) {
	cyclic := []any{nil}
	cyclic[0] = cyclic
	msgs, _ := CleanSendData(map[string]any{"x": []any{1, cyclic}}, "utf-8")
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	if err := encodable(msgs[0]); err == nil {
		t.Errorf("a cyclic value encoded")
	}
}

func TestIsFalsy(t *testing.T) {
	var nilMap map[string]int
	var nilIface fmt.Stringer
	zero, one := 0, 1
	tests := []struct {
		v    any
		want bool
	}{
		{nil, true},
		{false, true},
		{true, false},
		{0, true},
		{1, false},
		{int8(0), true},
		{uint64(0), true},
		{uint(3), false},
		{0.0, true},
		{math.Copysign(0, -1), true},
		{math.NaN(), false},
		{float32(0.5), false},
		{complex(0, 0), true},
		{"", true},
		{"0", false},
		{namedString(""), true},
		{[]any{}, true},
		{[]any{nil}, false},
		{[]string{}, true},
		{[]byte{}, true},
		{[]byte{0}, false},
		{[0]int{}, true},
		{[1]int{}, false},
		{map[string]any{}, true},
		{map[string]any{"": nil}, false},
		{nilMap, true},
		{namedMap{"a": 0}, false},
		{json.Number("0"), true},
		{json.Number("0.0"), true},
		{json.Number("1"), false},
		{(*int)(nil), true},
		{&zero, true},
		{&one, false},
		{(*ptrObject)(nil), true},
		{&ptrObject{}, false},
		{nilIface, true},
		{dbObject{}, false},
		{struct{}{}, false},
		{time.Duration(0), true},
		{(func())(nil), true},
		{func() {}, false},
		{make(chan int), false},
	}
	for _, tt := range tests {
		if got := IsFalsy(tt.v); got != tt.want {
			t.Errorf("IsFalsy(%T %#v) = %v, want %v", tt.v, tt.v, got, tt.want)
		}
	}
}

func TestNormaliseEncoding(t *testing.T) {
	tests := map[string]string{
		"UTF-8":          "utf_8",
		" Latin-1 ":      "latin_1",
		"ISO 8859--1":    "iso_8859_1",
		"us-ascii":       "us_ascii",
		"ANSI_X3.4-1968": "ansi_x3.4_1968",
		"":               "",
	}
	for in, want := range tests {
		if got := normaliseEncoding(in); got != want {
			t.Errorf("normaliseEncoding(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkCleanSendDataText(b *testing.B) {
	data := map[string]any{"text": "hello"}
	b.ReportAllocs()
	for b.Loop() {
		msgs, _ := CleanSendData(data, "utf-8")
		if len(msgs) != 1 {
			b.Fatal("want one message")
		}
	}
}
