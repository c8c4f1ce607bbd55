package contract

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
)

// telnetFlags are the flags a telnet session holds after negotiating with
// Mudlet: what ten thousand idle sessions each keep.
func telnetFlags() map[string]any {
	return map[string]any{
		FlagEncoding: "utf-8", FlagScreenReader: false, FlagInputDebug: false, FlagRaw: false,
		FlagNoColor: false, FlagLocalEcho: false, FlagNoGoAhead: true, FlagNoPromptGoAhead: true,
		FlagScreenWidth: 120, FlagScreenHeight: 40, FlagForcedEndLine: true, FlagTTYPE: true,
		FlagANSI: true, FlagMCCP: false, FlagOOB: true, FlagMXP: false, FlagClientName: "Mudlet 4.17",
		FlagXterm256: true, FlagTrueColor: true, FlagUTF8: true, FlagTerm: "MUDLET",
	}
}

func TestFlagsReadBackWhatWasSet(t *testing.T) {
	in := telnetFlags()
	// Keys Flags does not know, and known keys of another type (Evennia's
	// dict SCREENWIDTH, a string TTYPE, a fractional size), are kept as
	// they are.
	in["CUSTOM"] = []any{"a", int64(1)}
	in["BOT_RETRY_AT"] = int64(1 << 40)
	in[FlagMSDP] = "yes"
	in[FlagGMCP] = true
	f := FlagsOf(in)
	f.Set(FlagAutoResize, 1.5)
	in[FlagAutoResize] = 1.5
	if got := f.Map(); !reflect.DeepEqual(got, in) {
		t.Errorf("Map() =\n %#v\nwant\n %#v", got, in)
	}
	if f.Len() != len(in) {
		t.Errorf("Len() = %d, want %d", f.Len(), len(in))
	}
	for k, v := range in {
		got, ok := f.Get(k)
		if !ok || !reflect.DeepEqual(got, v) {
			t.Errorf("Get(%q) = %#v, %v; want %#v", k, got, ok, v)
		}
	}
	if v, ok := f.Get("MISSING"); ok || v != nil {
		t.Errorf("Get of an unset flag = %v, %v", v, ok)
	}
	// Whole numbers of the two sizes read back as int, whatever their Go
	// type when set (an int64 after a trip through JSON).
	f.Set(FlagScreenWidth, int64(132))
	if v, _ := f.Get(FlagScreenWidth); v != 132 {
		t.Errorf("SCREENWIDTH from int64 = %#v, want int 132", v)
	}
	// A size too large for the typed field is kept as given.
	f.Set(FlagScreenHeight, int64(1<<40))
	if v, _ := f.Get(FlagScreenHeight); v != int64(1<<40) {
		t.Errorf("huge SCREENHEIGHT = %#v", v)
	}
}

func TestFlagsTypedAndOtherValuesReplaceEachOther(t *testing.T) {
	var f Flags
	f.Set(FlagANSI, "maybe")
	if f.Bool(FlagANSI) || f.Value(FlagANSI) != "maybe" {
		t.Errorf("string ANSI: Bool %v, Value %v", f.Bool(FlagANSI), f.Value(FlagANSI))
	}
	f.Set(FlagANSI, true)
	if !f.Bool(FlagANSI) || f.Len() != 1 || f.extra != nil {
		t.Errorf("bool ANSI over a string one: Bool %v, Len %d, extra %v", f.Bool(FlagANSI), f.Len(), f.extra)
	}
	f.Set(FlagANSI, nil)
	if v, ok := f.Get(FlagANSI); !ok || v != nil || f.Bool(FlagANSI) || f.Len() != 1 {
		t.Errorf("nil ANSI over a bool one: %v, %v, Len %d", v, ok, f.Len())
	}
	f.Delete(FlagANSI)
	if _, ok := f.Get(FlagANSI); ok || f.Len() != 0 || !f.Equal(Flags{}) {
		t.Errorf("after Delete: %#v", f)
	}
	f.Set(FlagEncoding, "latin-1")
	f.Set(FlagScreenWidth, 80)
	if f.String(FlagEncoding) != "latin-1" || f.Int(FlagScreenWidth, 0) != 80 || f.String(FlagScreenWidth) != "" ||
		f.Int(FlagEncoding, -1) != -1 || f.Bool(FlagEncoding) {
		t.Errorf("typed getters: %q %d", f.String(FlagEncoding), f.Int(FlagScreenWidth, 0))
	}
	f.Set(FlagEncoding, false)
	if f.String(FlagEncoding) != "" || f.Value(FlagEncoding) != false {
		t.Errorf("bool ENCODING: %v", f.Value(FlagEncoding))
	}
}

func TestFlagsAllIsSortedForKnownFlags(t *testing.T) {
	f := FlagsOf(telnetFlags())
	f.Set("ZZZ", 1)
	var names []string
	for k := range f.All() {
		names = append(names, k)
	}
	want := slices.Sorted(maps.Keys(telnetFlags()))
	want = append(want, "ZZZ")
	if !slices.Equal(names, want) {
		t.Errorf("All() order = %v, want %v", names, want)
	}
	if !slices.Equal(f.Names(), want) {
		t.Errorf("Names() = %v", f.Names())
	}
	if !slices.IsSortedFunc(knownFlags, func(a, b knownFlag) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	}) {
		t.Error("knownFlags is not sorted by name")
	}
}

func TestFlagsCloneMergeEqual(t *testing.T) {
	f := FlagsOf(map[string]any{FlagANSI: true, "CUSTOM": "a"})
	c := f.Clone()
	c.Set("CUSTOM", "b")
	c.Set(FlagANSI, false)
	if f.Value("CUSTOM") != "a" || !f.Bool(FlagANSI) {
		t.Errorf("changing a clone changed the original: %v", f.Map())
	}
	if f.Equal(c) {
		t.Error("Equal of different flags")
	}
	f.Merge(c)
	if !f.Equal(c) || !reflect.DeepEqual(f.Map(), c.Map()) {
		t.Errorf("after Merge: %v, want %v", f.Map(), c.Map())
	}
	// Merge keeps what src does not name.
	f.Merge(FlagsOf(map[string]any{FlagMXP: true}))
	if f.Value("CUSTOM") != "b" || !f.Bool(FlagMXP) {
		t.Errorf("Merge dropped flags: %v", f.Map())
	}
}

func TestFlagsJSON(t *testing.T) {
	in := telnetFlags()
	in["CUSTOM"] = map[string]any{"x": 1.5}
	f := FlagsOf(in)
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(in)
	if string(b) != string(want) {
		t.Errorf("JSON:\n %s\nwant\n %s", b, want)
	}
	var g Flags
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if !g.Equal(f) {
		t.Errorf("JSON round trip:\n %v\nwant\n %v", g.Map(), f.Map())
	}
	if err := json.Unmarshal([]byte(`[1]`), &g); err == nil {
		t.Error("a JSON list was taken as flags")
	}
	// Inside a struct, as the host API sends a session.
	var s struct{ F Flags }
	if err := json.Unmarshal([]byte(`{"F":{"ANSI":true,"SCREENWIDTH":90}}`), &s); err != nil || !s.F.Bool(FlagANSI) ||
		s.F.Int(FlagScreenWidth, 0) != 90 {
		t.Errorf("flags in a struct: %v, %v", s.F.Map(), err)
	}
}

// TestFlagsAreSmall shows what the typed flags buy: a telnet session's
// usual flags cost no allocation at all (before, a map of 16–21 entries:
// 1.2 KiB per session on each side of the Link), and reading them
// allocates nothing.
func TestFlagsAreSmall(t *testing.T) {
	in := telnetFlags()
	allocs := testing.AllocsPerRun(100, func() {
		var f Flags
		for k, v := range in {
			f.Set(k, v)
		}
		if f.Len() != len(in) {
			t.Fatal("lost a flag")
		}
	})
	// Setting a flag from an interface value boxes nothing here: only the
	// interning of the two strings may allocate, and not once they are
	// interned.
	if allocs > 0 {
		t.Errorf("setting a telnet session's flags allocates %.0f times, want 0", allocs)
	}
	if size := reflect.TypeFor[Flags]().Size(); size > 96 {
		t.Errorf("Flags is %d bytes, want at most 96", size)
	}
	f := FlagsOf(in)
	reads := testing.AllocsPerRun(100, func() {
		_ = f.Bool(FlagANSI) && f.Int(FlagScreenWidth, 0) > 0 && f.String(FlagEncoding) != ""
	})
	if reads > 0 {
		t.Errorf("reading flags allocates %.0f times", reads)
	}
}

// TestFlagsJSONMatchesEncodingJSON: the flags' own JSON writer gives the
// bytes encoding/json gives for the same map (sorted keys, HTML and
// control characters escaped), and the reader's fast path reads what
// DecodeJSON reads.
func TestFlagsJSONMatchesEncodingJSON(t *testing.T) {
	cases := []map[string]any{
		{},
		telnetFlags(),
		{FlagClientName: `Mud<let> & "co"`, FlagTerm: "xterm\t256", FlagEncoding: "ütf-8", "AAA": 1, "zzz": []any{"x"}},
		{"MXP": 2.5, FlagScreenWidth: int64(1 << 40), FlagANSI: "yes", "CUSTOM": nil, "KEY\"Q": true},
	}
	for _, m := range cases {
		f := FlagsOf(m)
		got, err := f.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(f.Map())
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("AppendJSON:\n %s\nencoding/json:\n %s", got, want)
		}
		var back Flags
		if err := back.UnmarshalJSON(got); err != nil {
			t.Fatal(err)
		}
		if !back.Equal(slowDecode(t, got)) {
			t.Errorf("fast read of %s:\n %v\nDecodeJSON:\n %v", got, back.Map(), slowDecode(t, got).Map())
		}
	}
}

// slowDecode reads flags the way encoding/json and DecodeJSON do.
func slowDecode(t testing.TB, b []byte) Flags {
	t.Helper()
	v, err := DecodeJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := v.(map[string]any)
	return FlagsOf(m)
}

// FuzzFlagsUnmarshal: whatever the fast path accepts, it reads as
// DecodeJSON does; whatever DecodeJSON refuses, UnmarshalJSON refuses.
func FuzzFlagsUnmarshal(f *testing.F) {
	for _, s := range []string{`{}`, `{"ANSI":true,"SCREENWIDTH":80,"ENCODING":"utf-8"}`, `{"a":1.5}`, `{"a":"\u00e9"}`,
		` { "X" : null , "Y":-3 } `, `{"a":1,}`, `[1]`, `{"a":99999999999999999999}`, `{"a":tru}`, `{"a":"b"}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast Flags
		err := fast.UnmarshalJSON(b)
		v, derr := DecodeJSON(b)
		m, isObject := v.(map[string]any)
		switch {
		case derr != nil || (v != nil && !isObject):
			if err == nil {
				t.Fatalf("%q: read as %v, DecodeJSON: %v, %T", b, fast.Map(), derr, v)
			}
		case err != nil:
			t.Fatalf("%q: %v, DecodeJSON read %v", b, err, v)
		case !fast.Equal(FlagsOf(m)):
			t.Fatalf("%q: read as %v, DecodeJSON as %v", b, fast.Map(), m)
		}
	})
}

func TestFlagsPrintAsTheirMap(t *testing.T) {
	f := FlagsOf(map[string]any{FlagANSI: true, FlagScreenWidth: 80, "X": "y"})
	m := f.Map()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if got, want := fmt.Sprintf(verb, f), fmt.Sprintf(verb, m); got != want {
			t.Errorf("%s: %q, want %q", verb, got, want)
		}
	}
}
