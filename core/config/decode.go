package config

import (
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/portico-mud/portico/sdk/contract"
)

var (
	durationType  = reflect.TypeFor[time.Duration]()
	digestType    = reflect.TypeFor[Digest]()
	addressesType = reflect.TypeFor[contract.Addresses]()
)

// decodeHook is the decode hook of Load's strict unmarshal: it converts
// config.yaml's and the environment's values (strings, from the
// environment) to the struct's types, with messages that say what is
// wanted. Weak typing is off, so nothing else converts silently.
func decodeHook(_, to reflect.Type, data any) (any, error) { return convert(data, to) }

// nestedError is a mapping given where a single value belongs: its keys
// are reported as unknown keys, each on its own line.
type nestedError struct{ keys []string }

func (e *nestedError) Error() string { return "want a single value, got a mapping" }

func convert(data any, t reflect.Type) (any, error) {
	if m, ok := data.(map[string]any); ok && t.Kind() != reflect.Struct && t.Kind() != reflect.Map &&
		t.Kind() != reflect.Interface {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return nil, &nestedError{keys: keys}
	}
	switch {
	case t == durationType:
		return toDuration(data)
	case t == digestType:
		return toDigest(data)
	case t == addressesType:
		return toAddresses(data)
	}
	switch t.Kind() {
	case reflect.Bool:
		return toBool(data)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return toInt(data, t)
	case reflect.String:
		return toString(data)
	case reflect.Struct, reflect.Map:
		if data == nil {
			return data, nil
		}
		if _, ok := data.(map[string]any); !ok {
			return nil, fmt.Errorf("want a mapping, got %s", got(data))
		}
	}
	return data, nil
}

// got shows a value in a message: strings quoted, so that "" and " " show.
func got(data any) string {
	switch x := data.(type) {
	case nil:
		return "nothing"
	case string:
		return strconv.Quote(x)
	}
	return fmt.Sprint(data)
}

func toBool(data any) (bool, error) {
	switch x := data.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case string:
		// The environment's spellings as well as YAML's.
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "yes", "on", "1":
			return true, nil
		case "false", "no", "off", "0":
			return false, nil
		}
	}
	return false, fmt.Errorf("want true or false, got %s", got(data))
}

func toInt(data any, t reflect.Type) (any, error) {
	out := reflect.New(t).Elem()
	unsigned := out.CanUint()
	wrong := func() error {
		if unsigned {
			return fmt.Errorf("want a whole number from 0 to %d, got %s", uint64(1)<<(t.Bits())-1, got(data))
		}
		return fmt.Errorf("want a whole number, got %s", got(data))
	}
	var n int64
	switch x := data.(type) {
	case nil:
		return out.Interface(), nil
	case string:
		v, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return nil, wrong()
		}
		n = v
	case float32, float64:
		f := reflect.ValueOf(x).Float()
		if f != math.Trunc(f) || f < math.MinInt64 || f > math.MaxInt64 {
			return nil, wrong()
		}
		n = int64(f)
	default:
		v := reflect.ValueOf(data)
		switch {
		case v.CanInt():
			n = v.Int()
		case v.CanUint() && v.Uint() <= math.MaxInt64:
			n = int64(v.Uint())
		default:
			return nil, wrong()
		}
	}
	if unsigned {
		if n < 0 || out.OverflowUint(uint64(n)) {
			return nil, wrong()
		}
		out.SetUint(uint64(n))
	} else {
		if out.OverflowInt(n) {
			return nil, wrong()
		}
		out.SetInt(n)
	}
	return out.Interface(), nil
}

func toString(data any) (string, error) {
	switch x := data.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case int, int64, uint64, float64:
		// name: 1984 is a name.
		return fmt.Sprint(x), nil
	}
	return "", fmt.Errorf("want a string, got %s", got(data))
}

func toDuration(data any) (time.Duration, error) {
	switch x := data.(type) {
	case nil:
		return 0, nil
	case time.Duration:
		return x, nil
	case string:
		if d, err := time.ParseDuration(strings.TrimSpace(x)); err == nil {
			return d, nil
		}
		if strings.TrimSpace(x) == "0" {
			return 0, nil
		}
	case int:
		if x == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("want a duration such as 30m, got %d (a number needs a unit: s, m, h)", x)
	}
	return 0, fmt.Errorf("want a duration such as 30m, got %s", got(data))
}

// toAddresses reads a list of addresses (limits.exempt): a YAML list of
// strings, or one string of entries separated by commas or spaces (as
// the environment gives it). The entries are checked by Validate.
func toAddresses(data any) (contract.Addresses, error) {
	switch x := data.(type) {
	case nil:
		return "", nil
	case contract.Addresses:
		return x, nil
	case string:
		x = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(x), "["), "]")
		return contract.JoinAddresses(strings.FieldsFunc(x, func(r rune) bool { return r == ',' || r == ' ' })), nil
	case []any:
		list := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("want a list of addresses and CIDR prefixes, got %s in it", got(e))
			}
			list = append(list, s)
		}
		return contract.JoinAddresses(list), nil
	}
	return "", fmt.Errorf("want a list of addresses and CIDR prefixes, got %s", got(data))
}

// toDigest reads a hex SHA-256 digest (64 hex digits, as sha256sum prints
// it); nothing or "" gives nil.
func toDigest(data any) (Digest, error) {
	switch x := data.(type) {
	case nil:
		return nil, nil
	case Digest:
		return x, nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return nil, nil
		}
		sum, err := hex.DecodeString(s)
		if err != nil || len(sum) != 32 {
			return nil, fmt.Errorf("want 64 hex digits (sha256sum's output), got %q", s)
		}
		return sum, nil
	}
	// YAML reads an unquoted digest made only of digits as a number.
	return nil, fmt.Errorf("want 64 hex digits (sha256sum's output) in quotes, got %s", got(data))
}

// fieldError is one error of the strict unmarshal: the key it is about
// (as config.yaml spells it) and what is wrong.
type fieldError struct {
	key string
	err error
}

// decodeErrors flattens the strict unmarshal's error into the field errors
// it joins.
func decodeErrors(err error) []fieldError {
	var out []fieldError
	var walk func(error)
	walk = func(err error) {
		if de, ok := err.(*mapstructure.DecodeError); ok {
			out = append(out, fieldError{key: keyOfField(de.Name()), err: de.Unwrap()})
			return
		}
		switch x := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		default:
			out = append(out, fieldError{err: err})
		}
	}
	walk(err)
	return out
}

// keyOfField turns mapstructure's field name ("plugins[telnet].enabled")
// into the key as config.yaml spells it ("plugins.telnet.enabled").
func keyOfField(name string) string {
	name = strings.NewReplacer("[", ".", "]", "").Replace(name)
	return strings.TrimPrefix(name, ".")
}

// invalidKeys returns the keys of mapstructure's "has invalid keys: a, b"
// (the strict unmarshal's unknown keys). The format is mapstructure's, at
// the pinned version; TestLoadRejectsUnknownKeys fails if it changes.
func invalidKeys(err error) ([]string, bool) {
	list, ok := strings.CutPrefix(err.Error(), "has invalid keys: ")
	if !ok {
		return nil, false
	}
	return strings.Split(list, ", "), true
}
