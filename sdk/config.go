package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
)

// Limits are the host's limits (config.yaml's limits block), as the
// plugin is told them at Configure.
type Limits = contract.Limits

// HostInfo is what the host tells a plugin about itself at Configure.
type HostInfo struct {
	// ServerName is the game's name (server.name).
	ServerName string
	// DataDir is the host's data directory; plugins keep their files under it.
	DataDir string
	// Version is the host's version.
	Version string
	// ReattachGrace is how long the plugin keeps its clients waiting for a
	// host that went away.
	ReattachGrace time.Duration
	// FiguresInterval is how often the plugin's figures go to the host
	// while a link is up (the host's server.plugin_ping_interval); 0 from
	// a host that takes none. The SDK sends them (figures.go).
	FiguresInterval time.Duration
	// Limits are the host-wide limits. Plugins enforce MaxInputLength (on
	// one line or message, in characters, before input reaches the host);
	// Portal.NewSession applies ConnectionRate (past it clients queue) and
	// ConnectionsPerIP and ConnectionQueueWait. See wire.LimitsFromPB for which limits the
	// wire carries.
	Limits
}

// Config is a plugin's config block from config.yaml (or a bot's config
// dict) and the host's facts.
type Config struct {
	// Raw is the config block or dict as given, decoded from JSON with
	// its numbers as json.Number (exact: a 64-bit id is not rounded to a
	// float64). Decode reads them into any numeric field.
	Raw map[string]any
	// Host is what the host told the plugin about itself.
	Host HostInfo
	// Listening, for Validate only, are the addresses (host:port) that the
	// running instance of this plugin already listens on: CheckListen
	// does not count them as taken.
	Listening []string
}

// Decode fills v (a pointer to a struct with json tags, holding its
// defaults) from the config block. Every key v does not know and every
// value of the wrong type is reported, each as a *ConfigError naming its
// key (joined with errors.Join when there are several), so that a typo in
// config.yaml is reported instead of ignored: `config: unknown key "lisen"
// (did you mean "listen"?)`, `config key "port": want a whole number, got
// a string`. Keys of nested structs are dotted ("tls.port").
func (c Config) Decode(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("config: decode into %T: want a pointer to a struct", v)
	}
	if rv.Elem().Kind() != reflect.Struct {
		// Not a struct: no keys to check one by one.
		return decodeValue(c.Raw, v, "")
	}
	return errors.Join(decodeStruct(c.Raw, rv.Elem(), "")...)
}

// decodeStruct decodes raw into the struct sv key by key, so that each
// error names its key: json reports an error of a field's own
// UnmarshalJSON (a Duration) without the field's name.
func decodeStruct(raw map[string]any, sv reflect.Value, prefix string) []error {
	fields := jsonFields(sv.Type())
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		names = append(names, f.name)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []error
	for _, k := range keys {
		f, ok := findField(fields, k)
		if !ok {
			errs = append(errs, &ConfigError{Key: strings.TrimSuffix(prefix, "."), Unknown: prefix + k,
				Msg: fmt.Sprintf("unknown key %q%s", k, didYouMean(k, names))})
			continue
		}
		fv := sv.FieldByIndex(f.index)
		if m, ok := raw[k].(map[string]any); ok && fv.Kind() == reflect.Struct && !unmarshals(fv) {
			errs = append(errs, decodeStruct(m, fv, prefix+f.name+".")...)
			continue
		}
		if err := decodeValue(raw[k], fv.Addr().Interface(), prefix+f.name); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// decodeValue decodes one value into dst through JSON, naming key in its
// error.
func decodeValue(value any, dst any, key string) error {
	b, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			k := key
			if te.Field != "" {
				k = strings.TrimPrefix(key+"."+te.Field, ".")
			}
			return &ConfigError{Key: k, Msg: fmt.Sprintf("want %s, got %s", typeWord(te.Type), valueWord(te.Value))}
		}
		var ce *ConfigError
		if errors.As(err, &ce) {
			// A field's own UnmarshalJSON said what is wrong.
			out := *ce
			out.Key = strings.TrimPrefix(key+"."+ce.Key, ".")
			out.Key = strings.TrimSuffix(out.Key, ".")
			return &out
		}
		msg := err.Error()
		if u, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return &ConfigError{Key: key, Msg: "unknown key " + u}
		}
		return &ConfigError{Key: key, Msg: strings.TrimPrefix(msg, "json: ")}
	}
	return nil
}

// jsonField is a struct field as encoding/json names it.
type jsonField struct {
	name  string
	index []int
}

// jsonFields lists the fields encoding/json would fill in t, by name.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for _, inner := range jsonFields(f.Type) {
				out = append(out, jsonField{name: inner.name, index: append([]int{i}, inner.index...)})
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, index: []int{i}})
	}
	return out
}

// findField matches a key as encoding/json does: exactly, else ignoring
// case.
func findField(fields []jsonField, key string) (jsonField, bool) {
	for _, f := range fields {
		if f.name == key {
			return f, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, key) {
			return f, true
		}
	}
	return jsonField{}, false
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// unmarshals reports whether v's type decodes itself.
func unmarshals(v reflect.Value) bool {
	return v.Type().Implements(unmarshalerType) || reflect.PointerTo(v.Type()).Implements(unmarshalerType)
}

// typeWord says in words what a Go type wants in config.yaml.
func typeWord(t reflect.Type) string {
	if t == nil {
		return "another value"
	}
	switch t {
	case reflect.TypeFor[Duration](), reflect.TypeFor[time.Duration]():
		return `a duration ("30s", "5m") or a number of seconds`
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

// valueWord says what json's UnmarshalTypeError.Value was.
func valueWord(v string) string {
	switch v {
	case "string":
		return "a string"
	case "number":
		return "a number"
	case "bool":
		return "true or false"
	case "array":
		return "a list"
	case "object":
		return "a mapping"
	}
	if strings.HasPrefix(v, "number ") {
		return strings.TrimPrefix(v, "number ")
	}
	return v
}

// ConfigError is one problem with a plugin's config block, naming its key.
// Config.Decode returns them, and a plugin's checks should too (KeyError):
// Validate hands each to the host, which shows it located in config.yaml:
// `config.yaml:12: plugins.telnet.config.listen: 0.0.0.0:4000: address
// already in use`.
type ConfigError struct {
	// Key is the key at fault, dotted below the block ("listen",
	// "tls.port"); empty for the block as a whole. An unknown key is
	// reported on the mapping that holds it: it is no key of it.
	Key string
	// Msg says what is wrong.
	Msg string
	// Unknown is an unknown key's dotted name, so that the host can point
	// at its line.
	Unknown string
}

// Error is `config key "listen": msg`, or `config: msg` for the block.
func (e *ConfigError) Error() string {
	if e.Key == "" {
		return "config: " + e.Msg
	}
	return fmt.Sprintf("config key %q: %s", e.Key, e.Msg)
}

// KeyError returns a *ConfigError about key, its message formatted.
func KeyError(key, format string, args ...any) error {
	return &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// ConfigProblems splits err, as a Validate or Configure returned it, into
// its problems: each *ConfigError found in it (errors.Join and %w with
// several errors are followed), and any other error as a problem of the
// block as a whole. Nil has none.
func ConfigProblems(err error) []ConfigError {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []ConfigError
		for _, e := range j.Unwrap() {
			out = append(out, ConfigProblems(e)...)
		}
		return out
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return []ConfigError{*ce}
	}
	return []ConfigError{{Msg: err.Error()}}
}

// didYouMean returns ` (did you mean "x"?)` for the name in options
// nearest to word (see NearestName), or "".
func didYouMean(word string, options []string) string {
	best := NearestName(word, options)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// NearestName returns the name in options a mistyped word most likely
// meant: the nearest one at most two edits away (insertions, deletions,
// substitutions, swaps of neighbours; case ignored), or else the first
// that starts with a word of three letters or more, or "". The host's
// config loader and the SDK's Config.Decode both suggest with it, so a
// typo is answered alike wherever it is made.
func NearestName(word string, options []string) string {
	lw := strings.ToLower(word)
	best, bestD := "", 3
	for _, o := range options {
		if d := editDistance(lw, strings.ToLower(o)); d < bestD && d < len(lw) {
			best, bestD = o, d
		}
	}
	if best == "" && len(lw) >= 3 {
		for _, o := range options {
			if strings.HasPrefix(strings.ToLower(o), lw) {
				best = o
				break
			}
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps
// of neighbours that turn a into b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
