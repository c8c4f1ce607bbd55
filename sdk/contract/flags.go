package contract

import (
	"fmt"
	"iter"
	"maps"
	"math"
	"reflect"
	"slices"
	"unique"
	"unsafe"
)

// More protocol flag names the plugins set (Evennia's names).
const (
	FlagNoGoAhead       = "NOGOAHEAD"
	FlagNoPromptGoAhead = "NOPROMPTGOAHEAD"
	FlagForcedEndLine   = "FORCEDENDLINE"
	FlagTTYPE           = "TTYPE"
	FlagTerm            = "TERM"
	FlagMCCP            = "MCCP"
	FlagOOB             = "OOB"
	FlagMXP             = "MXP"
	FlagAutoResize      = "AUTORESIZE"
	FlagIsTyping        = "ISTYPING"
	FlagGMCP            = "GMCP"
	FlagMSDP            = "MSDP"
)

// flagKind is how a well-known flag is held in Flags.
type flagKind uint8

const (
	kindBool flagKind = iota
	kindInt
	kindString
)

// knownFlag is one well-known flag: its name, kind and slot (a bit for a
// bool, an index into ints or strs otherwise).
type knownFlag struct {
	name string
	kind flagKind
	slot uint8
}

// knownFlags are the flags Flags holds in typed fields, sorted by name
// (the order All and the JSON form use). Every other key, and a known key
// set to a value of another type, lives in Flags' small map.
var knownFlags = []knownFlag{
	{FlagANSI, kindBool, 0},
	{FlagAutoResize, kindBool, 1},
	{FlagClientName, kindString, 0},
	{FlagEncoding, kindString, 1},
	{FlagForcedEndLine, kindBool, 2},
	{FlagGMCP, kindBool, 3},
	{FlagInputDebug, kindBool, 4},
	{FlagIsTyping, kindBool, 5},
	{FlagLocalEcho, kindBool, 6},
	{FlagMCCP, kindBool, 7},
	{FlagMSDP, kindBool, 8},
	{FlagMXP, kindBool, 9},
	{FlagNoColor, kindBool, 10},
	{FlagNoGoAhead, kindBool, 11},
	{FlagNoPromptGoAhead, kindBool, 12},
	{FlagOOB, kindBool, 13},
	{FlagRaw, kindBool, 14},
	{FlagScreenHeight, kindInt, 0},
	{FlagScreenReader, kindBool, 15},
	{FlagScreenWidth, kindInt, 1},
	{FlagTerm, kindString, 2},
	{FlagTrueColor, kindBool, 16},
	{FlagTTYPE, kindBool, 17},
	{FlagUTF8, kindBool, 18},
	{FlagXterm256, kindBool, 19},
}

// knownIndex maps a well-known flag's name to its place in knownFlags.
var knownIndex = func() map[string]uint8 {
	m := make(map[string]uint8, len(knownFlags))
	for i, k := range knownFlags {
		m[k.name] = uint8(i)
	}
	return m
}()

// Flags are a session's protocol flags (Evennia's protocol_flags): the
// client's capabilities and settings, by name. The well-known flags
// (ENCODING, SCREENWIDTH, ANSI, MCCP ...) are held in typed fields, a few
// bytes each; any other key, or a well-known one set to a value of another
// type, goes to a small map made only when one is set. Values read back as
// they were set, except that a whole number set on SCREENWIDTH or
// SCREENHEIGHT reads back as an int (after a trip through JSON it was an
// int64 before: both compare equal through FlagInt and in JSON).
//
// The zero value is empty and ready to use. Flags are a value: a copy
// shares the small map, so use Clone for a copy to change.
type Flags struct {
	// set has a bit per known flag (by its index in knownFlags) that holds
	// a value in the typed fields.
	set uint32
	// bools are the values of the bool flags, by their slot.
	bools uint32
	ints  [2]int32
	strs  [3]string
	// extra holds the other keys; nil when there are none.
	extra map[string]any
}

// FlagsOf returns Flags holding the entries of m (nil gives empty Flags).
func FlagsOf(m map[string]any) Flags {
	var f Flags
	for k, v := range m {
		f.Set(k, v)
	}
	return f
}

// typed converts v to the stored form of known flag k; ok is false when v
// is not of k's kind.
func typed(k knownFlag, v any) (b bool, n int32, s string, ok bool) {
	switch k.kind {
	case kindBool:
		b, ok = v.(bool)
	case kindInt:
		var i int64
		switch x := v.(type) {
		case int:
			i, ok = int64(x), true
		case int64:
			i, ok = x, true
		case int32:
			i, ok = int64(x), true
		}
		if ok && (i < math.MinInt32 || i > math.MaxInt32) {
			ok = false
		}
		n = int32(i)
	case kindString:
		s, ok = v.(string)
		if ok {
			s = intern(s)
		}
	}
	return b, n, s, ok
}

// intern returns the one shared copy of a short flag value, so that ten
// thousand sessions of the same client hold one "utf-8" and one "Mudlet".
func intern(s string) string {
	if s == "" || len(s) > 64 {
		return s
	}
	return unique.Make(s).Value()
}

// InternBytes is intern for a string read from b (a flag value, a protocol
// key on the wire), without the allocation of converting b first when the
// string is known already: unique.Make only looks at the string it is
// given and copies it when it keeps it, so it may point into b.
func InternBytes(b []byte) string {
	if len(b) == 0 || len(b) > 64 {
		return string(b)
	}
	return unique.Make(unsafe.String(unsafe.SliceData(b), len(b))).Value()
}

// Set sets flag name to v.
func (f *Flags) Set(name string, v any) {
	if i, ok := knownIndex[name]; ok {
		k := knownFlags[i]
		if b, n, s, ok := typed(k, v); ok {
			f.set |= 1 << i
			switch k.kind {
			case kindBool:
				if b {
					f.bools |= 1 << k.slot
				} else {
					f.bools &^= 1 << k.slot
				}
			case kindInt:
				f.ints[k.slot] = n
			case kindString:
				f.strs[k.slot] = s
			}
			f.deleteExtra(name)
			return
		}
		f.clearKnown(i)
	}
	if f.extra == nil {
		f.extra = make(map[string]any, 1)
	}
	f.extra[name] = v
}

// clearKnown forgets the typed value of known flag i.
func (f *Flags) clearKnown(i uint8) {
	f.set &^= 1 << i
	k := knownFlags[i]
	switch k.kind {
	case kindBool:
		f.bools &^= 1 << k.slot
	case kindInt:
		f.ints[k.slot] = 0
	case kindString:
		f.strs[k.slot] = ""
	}
}

func (f *Flags) deleteExtra(name string) {
	if f.extra == nil {
		return
	}
	delete(f.extra, name)
	if len(f.extra) == 0 {
		f.extra = nil
	}
}

// Get returns flag name and whether it is set.
func (f Flags) Get(name string) (any, bool) {
	if i, ok := knownIndex[name]; ok && f.set&(1<<i) != 0 {
		return f.known(i), true
	}
	v, ok := f.extra[name]
	return v, ok
}

// Value returns flag name, or nil when it is unset.
func (f Flags) Value(name string) any {
	v, _ := f.Get(name)
	return v
}

// known returns the value of known flag i, which is set.
func (f Flags) known(i uint8) any {
	k := knownFlags[i]
	switch k.kind {
	case kindBool:
		return f.bools&(1<<k.slot) != 0
	case kindInt:
		return int(f.ints[k.slot])
	default:
		return f.strs[k.slot]
	}
}

// Bool returns flag name as a bool (false when unset or not a bool).
func (f Flags) Bool(name string) bool {
	if i, ok := knownIndex[name]; ok && f.set&(1<<i) != 0 {
		k := knownFlags[i]
		return k.kind == kindBool && f.bools&(1<<k.slot) != 0
	}
	b, _ := f.extra[name].(bool)
	return b
}

// String returns flag name as a string ("" when unset or not a string).
func (f Flags) String(name string) string {
	if i, ok := knownIndex[name]; ok && f.set&(1<<i) != 0 {
		k := knownFlags[i]
		if k.kind == kindString {
			return f.strs[k.slot]
		}
		return ""
	}
	s, _ := f.extra[name].(string)
	return s
}

// Int returns flag name as an int, or def when unset or not a number.
func (f Flags) Int(name string, def int) int {
	switch v := f.Value(name).(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	}
	return def
}

// Delete removes flag name.
func (f *Flags) Delete(name string) {
	if i, ok := knownIndex[name]; ok {
		f.clearKnown(i)
	}
	f.deleteExtra(name)
}

// Len returns how many flags are set.
func (f Flags) Len() int {
	n := len(f.extra)
	for s := f.set; s != 0; s &= s - 1 {
		n++
	}
	return n
}

// All yields every flag: the well-known ones by name, then the others in
// no particular order.
func (f Flags) All() iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		for i, k := range knownFlags {
			if f.set&(1<<i) != 0 && !yield(k.name, f.known(uint8(i))) {
				return
			}
		}
		for k, v := range f.extra {
			if !yield(k, v) {
				return
			}
		}
	}
}

// Map returns the flags as a new map, the shape Evennia's game code sees.
func (f Flags) Map() map[string]any {
	m := make(map[string]any, f.Len())
	for k, v := range f.All() {
		m[k] = v
	}
	return m
}

// Merge sets every flag of src on f (Evennia merges protocol_flags on a
// sync).
func (f *Flags) Merge(src Flags) {
	for k, v := range src.All() {
		f.Set(k, v)
	}
}

// SetAll sets every entry of m on f.
func (f *Flags) SetAll(m map[string]any) {
	for k, v := range m {
		f.Set(k, v)
	}
}

// Clone returns a copy of f that shares nothing with it.
func (f Flags) Clone() Flags {
	f.extra = maps.Clone(f.extra)
	return f
}

// Equal reports whether f and o hold the same flags (values compared as
// Go values: an int and an int64 differ).
func (f Flags) Equal(o Flags) bool {
	return f.set == o.set && f.bools == o.bools && f.ints == o.ints && f.strs == o.strs &&
		len(f.extra) == len(o.extra) && (len(f.extra) == 0 || reflect.DeepEqual(f.extra, o.extra))
}

// Names returns the names of the set flags, sorted.
func (f Flags) Names() []string {
	names := make([]string, 0, f.Len())
	for k := range f.All() {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// Format prints the flags as their map prints (fmt's %v, %+v, %#v ...),
// so that logs and messages show flags as they did when they were a map.
func (f Flags) Format(st fmt.State, verb rune) {
	fmt.Fprintf(st, fmt.FormatString(st, verb), f.Map())
}

// MarshalJSON writes the flags as a JSON object (the wire's and the host
// API's form), as json.Marshal writes f.Map().
func (f Flags) MarshalJSON() ([]byte, error) {
	return f.AppendJSON(nil)
}

// UnmarshalJSON merges a JSON object of flags into f; numbers are read as
// DecodeJSON reads them (int64 when whole, float64 otherwise).
func (f *Flags) UnmarshalJSON(b []byte) error {
	if f.setFlatJSON(b) {
		return nil
	}
	v, err := DecodeJSON(b)
	if err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("contract: protocol flags: not a JSON object")
	}
	f.SetAll(m)
	return nil
}
