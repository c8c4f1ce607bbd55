package sdk

import (
	"encoding/json"
	"reflect"
	"strconv"
	"time"
)

// Duration is a time.Duration in a plugin's config, written as a Go
// duration string ("30s", "5m") or a number of seconds (YAML's
// `timeout: 0` arrives as a number). Negative durations are refused.
type Duration time.Duration

// UnmarshalJSON reads "30s" or 30. A bad value is reported as a
// json.UnmarshalTypeError, which the decoder completes with the key's name,
// so that Config.Decode's error names the key.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s == "" {
			*d = 0
			return nil
		}
		if v, err := time.ParseDuration(s); err == nil && v >= 0 {
			*d = Duration(v)
			return nil
		}
		return &json.UnmarshalTypeError{Value: "string " + strconv.Quote(s), Type: reflect.TypeFor[Duration]()}
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil || secs < 0 {
		return &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[Duration]()}
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}
