package contract

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxCleanDepth bounds how deeply CleanSendData descends into nested values.
// Anything nested deeper is left as it is, so that a cyclic value cannot
// overflow the stack; MessageToPB then reports the cycle when it encodes it.
const maxCleanDepth = 1000

// CleanSendData normalises Evennia-style send data — outputfunc/inputfunc name → value, as in session.msg(text=..., prompt=..., options=...) — into messages. It is Evennia's clean_senddata.
//
// The "options" entry is taken out first; it must be a map (anything else,
// including nil, counts as no options) and its values are made JSON-shaped
// like those of the messages (Evennia leaves them as they are). Every other
// entry becomes one Message named after its key, with Args and Kwargs taken
// from its value:
//
//   - a Python-false value (see IsFalsy) gives no arguments, except that a
//     false "text" entry is dropped altogether;
//   - a map gives its entries as Kwargs;
//   - a sequence (any slice or array other than a byte slice) whose last item
//     is a map gives that map as Kwargs and the items before it as Args; when
//     there are exactly two items and the first is itself a sequence, that
//     sequence's items are the Args;
//   - any other sequence gives its items as Args;
//   - any other value is the single argument.
//
// Argument and keyword values are then made JSON-shaped, recursively:
//
//   - a byte slice (Python's bytes, so never a sequence) is decoded with
//     encoding: "utf-8", "latin-1" or "ascii" under any of Python's usual
//     aliases, with UTF-8 for an unknown name; a value that does not decode
//     becomes "" and sets badEncoding, and the caller should then tell the
//     client "Your client sent an incorrect UTF-8 sequence.";
//   - a fmt.Stringer becomes its String(), before its underlying kind is
//     looked at, so a time.Duration becomes "1s", not 1000000000;
//   - integers become int64 (unsigned values above math.MaxInt64 become
//     float64, as they would after a JSON round trip), floats become float64
//     and a json.Number becomes int64 or float64;
//   - other slices and arrays become []any and other maps map[string]any,
//     with keys formatted by fmt.Sprint;
//   - named string and bool types become string and bool, and non-nil
//     pointers are followed;
//   - anything else, such as a struct, is kept as it is.
//
// Every message's Kwargs holds "options": its own shallow copy of the options
// map, or an empty map when there were none. An "options" key in a value's
// own kwargs is overwritten, as in Evennia. Args is nil when there are no
// arguments, which is also what MessageFromPB produces.
//
// Go maps have no order, so the messages are sorted: "text" first, then the
// other names in byte order, then "prompt" last (Evennia only moves "prompt"
// to the end). data and the values in it are not modified.
func CleanSendData(data map[string]any, encoding string) (msgs []Message, badEncoding bool) {
	c := cleaner{encoding: encoding}

	var options map[string]any
	if o, ok := data["options"]; ok && !IsFalsy(o) {
		if m, ok := c.mapOf(o, 0); ok {
			options = m
		}
	}

	names := make([]string, 0, len(data))
	for name := range data {
		if name != "options" {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, compareNames)

	msgs = make([]Message, 0, len(names))
	for _, name := range names {
		v := data[name]
		var args []any
		var kwargs map[string]any
		switch {
		case IsFalsy(v):
			if name == "text" {
				continue
			}
		case isMap(v):
			kwargs, _ = c.mapOf(v, 0)
		default:
			items, isSeq := sequenceItems(v)
			switch {
			case !isSeq:
				args = []any{c.value(v, 1)}
			case isMap(items[len(items)-1]):
				kwargs, _ = c.mapOf(items[len(items)-1], 0)
				if len(items) == 2 {
					if inner, ok := sequenceItems(items[0]); ok {
						args = c.list(inner, 0)
					} else {
						args = []any{c.value(items[0], 1)}
					}
				} else {
					args = c.list(items[:len(items)-1], 0)
				}
			default:
				args = c.list(items, 0)
			}
		}
		if len(args) == 0 {
			args = nil
		}
		if kwargs == nil {
			kwargs = make(map[string]any, 1)
		}
		opts := maps.Clone(options)
		if opts == nil {
			opts = map[string]any{}
		}
		kwargs["options"] = opts
		msgs = append(msgs, Message{Name: name, Args: args, Kwargs: kwargs})
	}
	return msgs, c.bad
}

// IsFalsy reports whether v is false in Python's sense (nil, false, 0, "", empty sequence or map).
//
// It goes by the value's kind, so named types count too: a zero
// time.Duration is false and so is an empty byte slice. A nil pointer,
// function or channel counts as Python's None; a non-nil pointer is judged by
// what it points to unless it is a fmt.Stringer. A json.Number is false when
// it is zero. Everything else, such as a struct, is true, like a Python object
// without __bool__ or __len__.
func IsFalsy(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case int:
		return x == 0
	case int64:
		return x == 0
	case float64:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	case []byte:
		return len(x) == 0
	case []string:
		return len(x) == 0
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x == ""
		}
		return f == 0
	}
	rv, isNil := indirect(reflect.ValueOf(v))
	if isNil {
		return true
	}
	switch rv.Kind() {
	case reflect.Bool:
		return !rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return rv.Float() == 0
	case reflect.Complex64, reflect.Complex128:
		return rv.Complex() == 0
	case reflect.String, reflect.Slice, reflect.Array, reflect.Map:
		return rv.Len() == 0
	}
	return false
}

// compareNames orders message names: "text" first, "prompt" last and the
// rest in byte order.
func compareNames(a, b string) int {
	if ra, rb := nameRank(a), nameRank(b); ra != rb {
		return ra - rb
	}
	return strings.Compare(a, b)
}

func nameRank(name string) int {
	switch name {
	case "text":
		return 0
	case "prompt":
		return 2
	}
	return 1
}

// stringerType is fmt.Stringer's reflect type.
var stringerType = reflect.TypeFor[fmt.Stringer]()

// indirect follows non-nil pointers and interfaces that are not
// fmt.Stringers, at most maxCleanDepth times. It reports whether it stopped
// at a nil pointer or interface (or at an invalid value, which is a nil any).
func indirect(rv reflect.Value) (reflect.Value, bool) {
	for range maxCleanDepth {
		switch rv.Kind() {
		case reflect.Invalid:
			return rv, true
		case reflect.Pointer, reflect.Interface, reflect.Func, reflect.Chan, reflect.UnsafePointer:
			if rv.IsNil() {
				return rv, true
			}
			if rv.Kind() != reflect.Pointer && rv.Kind() != reflect.Interface {
				return rv, false
			}
			if rv.Type().Implements(stringerType) {
				return rv, false
			}
			rv = rv.Elem()
		default:
			return rv, false
		}
	}
	return rv, false
}

// isMap reports whether v is a map, which Evennia's isinstance(x, dict)
// corresponds to.
func isMap(v any) bool {
	switch v.(type) {
	case map[string]any, map[string]string:
		return true
	case nil, string, []any, []byte, []string, fmt.Stringer:
		return false
	}
	rv, isNil := indirect(reflect.ValueOf(v))
	return !isNil && rv.Kind() == reflect.Map && !rv.Type().Implements(stringerType)
}

// sequenceItems returns the items of v if v is a sequence in the sense of
// Evennia's is_iter: a slice or array that is neither a byte slice (Python's
// bytes) nor a fmt.Stringer. Maps are handled before this is asked.
func sequenceItems(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		items := make([]any, len(x))
		for i, s := range x {
			items[i] = s
		}
		return items, true
	case nil, string, []byte, map[string]any, map[string]string, fmt.Stringer:
		return nil, false
	}
	rv, isNil := indirect(reflect.ValueOf(v))
	if isNil || isByteSlice(rv) || rv.Type().Implements(stringerType) {
		return nil, false
	}
	if k := rv.Kind(); k != reflect.Slice && k != reflect.Array {
		return nil, false
	}
	items := make([]any, rv.Len())
	for i := range items {
		items[i] = rv.Index(i).Interface()
	}
	return items, true
}

// isByteSlice reports whether rv is a slice of a byte kind, such as
// json.RawMessage.
func isByteSlice(rv reflect.Value) bool {
	return rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8
}

// cleaner converts values to JSON-shaped ones and remembers whether any byte
// value failed to decode.
type cleaner struct {
	encoding string
	decode   func([]byte) (string, bool) // looked up on first use
	bad      bool
}

// bytes decodes b, or records the failure and returns "".
func (c *cleaner) bytes(b []byte) string {
	if c.decode == nil {
		c.decode = decoderFor(c.encoding)
	}
	s, ok := c.decode(b)
	if !ok {
		c.bad = true
		return ""
	}
	return s
}

// list converts every item of items into a new slice. depth is the nesting
// level of the slice itself.
func (c *cleaner) list(items []any, depth int) []any {
	out := make([]any, len(items))
	for i, item := range items {
		out[i] = c.value(item, depth+1)
	}
	return out
}

// mapOf converts a map of any key type into a new map[string]any, or reports
// false if v is not a map. depth is the nesting level of the map itself.
func (c *cleaner) mapOf(v any, depth int) (map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x)+1)
		for k, e := range x {
			out[k] = c.value(e, depth+1)
		}
		return out, true
	case map[string]string:
		out := make(map[string]any, len(x)+1)
		for k, e := range x {
			out[k] = e
		}
		return out, true
	}
	rv, isNil := indirect(reflect.ValueOf(v))
	if isNil || rv.Kind() != reflect.Map {
		return nil, false
	}
	out := make(map[string]any, rv.Len()+1)
	for it := rv.MapRange(); it.Next(); {
		k := it.Key()
		var key string
		if k.Kind() == reflect.String {
			key = k.String()
		} else {
			key = fmt.Sprint(k.Interface())
		}
		out[key] = c.value(it.Value().Interface(), depth+1)
	}
	return out, true
}

// value converts one value to its JSON-shaped form. depth is its nesting
// level; past maxCleanDepth the value is returned unchanged.
func (c *cleaner) value(v any, depth int) any {
	if depth > maxCleanDepth {
		return v
	}
	switch x := v.(type) {
	case nil, string, bool, int64, float64:
		return v
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint:
		return unsignedValue(uint64(x))
	case uint64:
		return unsignedValue(x)
	case float32:
		return float64(x)
	case []byte:
		return c.bytes(x)
	case []any:
		return c.list(x, depth)
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case map[string]any, map[string]string:
		m, _ := c.mapOf(x, depth)
		return m
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	}
	return c.reflectValue(v, depth)
}

// reflectValue is value's fallback for types it does not name.
func (c *cleaner) reflectValue(v any, depth int) any {
	rv, isNil := indirect(reflect.ValueOf(v))
	if isNil {
		return nil
	}
	if rv.Type().Implements(stringerType) {
		return rv.Interface().(fmt.Stringer).String()
	}
	switch rv.Kind() {
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return unsignedValue(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.Slice, reflect.Array:
		if isByteSlice(rv) {
			return c.bytes(rv.Bytes())
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = c.value(rv.Index(i).Interface(), depth+1)
		}
		return out
	case reflect.Map:
		m, _ := c.mapOf(rv.Interface(), depth)
		return m
	}
	return v
}

// unsignedValue returns u as int64, or as float64 if it does not fit.
func unsignedValue(u uint64) any {
	if u > math.MaxInt64 {
		return float64(u)
	}
	return int64(u)
}

// decoderFor returns the byte decoder for a Python codec name. Unknown names
// get UTF-8, as Evennia falls back to when the codec lookup fails.
func decoderFor(encoding string) func([]byte) (string, bool) {
	switch encoding {
	case "utf-8", "utf8":
		return decodeUTF8
	case "latin-1", "latin1", "iso-8859-1":
		return decodeLatin1
	case "ascii":
		return decodeASCII
	}
	switch normaliseEncoding(encoding) {
	case "latin_1", "latin1", "latin", "l1", "iso_8859_1", "iso8859_1", "iso8859",
		"8859", "cp819", "ibm819", "iso_ir_100", "csisolatin1", "iso_8859_1_1987":
		return decodeLatin1
	case "ascii", "us_ascii", "us", "646", "cp367", "ibm367", "csascii",
		"iso646_us", "iso_ir_6", "ansi_x3.4_1968", "ansi_x3_4_1968", "ansi_x3.4_1986":
		return decodeASCII
	}
	return decodeUTF8
}

// normaliseEncoding folds a codec name the way Python's codec lookup does:
// lower case, with every run of characters other than letters, digits and
// dots turned into one underscore, and leading and trailing ones dropped.
func normaliseEncoding(name string) string {
	var b strings.Builder
	pending := false
	for _, r := range strings.ToLower(name) {
		if r == '.' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			if pending && b.Len() > 0 {
				b.WriteByte('_')
			}
			pending = false
			b.WriteRune(r)
		} else {
			pending = true
		}
	}
	return b.String()
}

func decodeUTF8(b []byte) (string, bool) {
	if !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}

func decodeLatin1(b []byte) (string, bool) {
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b), true
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r), true
}

func decodeASCII(b []byte) (string, bool) {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return "", false
		}
	}
	return string(b), true
}
