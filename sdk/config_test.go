package sdk

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

type testConfig struct {
	Listen  string   `json:"listen"`
	Port    int      `json:"port"`
	Verbose bool     `json:"verbose"`
	Names   []string `json:"names"`
	TLS     struct {
		Cert string `json:"cert"`
		Port int    `json:"port"`
	} `json:"tls"`
}

func defaults() testConfig {
	c := testConfig{Listen: "0.0.0.0", Port: 4000, Names: []string{"a"}}
	c.TLS.Cert = "cert.pem"
	c.TLS.Port = 4443
	return c
}

func TestConfigDecodeKeepsDefaults(t *testing.T) {
	for name, raw := range map[string]map[string]any{"nil": nil, "empty": {}} {
		c := defaults()
		if err := (Config{Raw: raw}).Decode(&c); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(c, defaults()) {
			t.Errorf("%s: %+v, want the defaults", name, c)
		}
	}
	c := defaults()
	// As the host hands it over: decoded from JSON, numbers are float64.
	raw := map[string]any{"port": float64(5000), "verbose": true, "tls": map[string]any{"port": float64(5001)}}
	if err := (Config{Raw: raw}).Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := defaults()
	want.Port, want.Verbose, want.TLS.Port = 5000, true, 5001
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestConfigDecodeUnknownKey(t *testing.T) {
	c := defaults()
	err := (Config{Raw: map[string]any{"lisen": ":4000"}}).Decode(&c)
	if err == nil || err.Error() != `config: unknown key "lisen" (did you mean "listen"?)` {
		t.Fatalf("Decode = %v, want the unknown key named", err)
	}
	err = (Config{Raw: map[string]any{"tls": map[string]any{"cret": "x"}}}).Decode(&c)
	if err == nil || !strings.Contains(err.Error(), `unknown key "cret"`) {
		t.Errorf("nested unknown key: %v", err)
	}
}

func TestConfigDecodeWrongType(t *testing.T) {
	for _, tt := range []struct {
		key string
		raw map[string]any
	}{
		{"port", map[string]any{"port": "4000"}},
		{"port", map[string]any{"port": 1.5}},
		{"verbose", map[string]any{"verbose": "yes"}},
		{"names", map[string]any{"names": "a,b"}},
		{"tls.port", map[string]any{"tls": map[string]any{"port": "x"}}},
	} {
		c := defaults()
		err := (Config{Raw: tt.raw}).Decode(&c)
		if err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("config key %q: want ", tt.key)) {
			t.Errorf("%v: Decode = %v, want an error naming key %q", tt.raw, err, tt.key)
		}
	}
}

func TestConfigDecodeOtherErrors(t *testing.T) {
	var c testConfig
	if err := (Config{Raw: map[string]any{"port": func() {}}}).Decode(&c); err == nil || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("unencodable raw: %v", err)
	}
	if err := (Config{Raw: map[string]any{}}).Decode(c); err == nil {
		t.Error("decoding into a non-pointer: no error")
	}
}

func TestDecodeConfigJSON(t *testing.T) {
	for in, want := range map[string]map[string]any{
		``:              {},
		`null`:          {},
		`{}`:            {},
		`{"port":4000}`: {"port": json.Number("4000")},
	} {
		got, err := decodeConfig([]byte(in))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("decodeConfig(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{`{`, `[1]`, `"x"`, `4`, `{} {}`} {
		if _, err := decodeConfig([]byte(in)); err == nil {
			t.Errorf("decodeConfig(%q): no error", in)
		}
	}
}

// TestDecodeConfigSnowflake: a 64-bit id (a Discord snowflake) in a bot's
// config dict reaches the plugin exactly, as a number or as a string. As
// a float64 it would be 1234567890123456768.
func TestDecodeConfigSnowflake(t *testing.T) {
	raw, err := decodeConfig([]byte(`{"channel_id":1234567890123456789,"other":"1234567890123456789"}`))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ChannelID int64  `json:"channel_id"`
		Other     string `json:"other"`
	}
	if err := (Config{Raw: raw}).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.ChannelID != 1234567890123456789 || c.Other != "1234567890123456789" {
		t.Fatalf("decoded %+v, want both 1234567890123456789", c)
	}
	var n json.Number
	if err := (Config{Raw: map[string]any{"v": raw["channel_id"]}}).Decode(&struct {
		V *json.Number `json:"v"`
	}{&n}); err != nil || n.String() != "1234567890123456789" {
		t.Fatalf("as json.Number: %q, %v", n, err)
	}
}
