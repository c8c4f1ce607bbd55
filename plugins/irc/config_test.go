package main

import (
	"context"
	"strings"
	"testing"

	"github.com/portico-mud/portico/sdk"
)

func validDict() map[string]any {
	return map[string]any{
		"network": "irc.example.net", "channel": "#mygame", "nick": "GameBot",
		"bot": "GameBot", "uid": float64(3), "game_channel": "public", "server_name": "MyGame",
	}
}

func parse(t *testing.T, change map[string]any) (BotConfig, error) {
	t.Helper()
	raw := validDict()
	for k, v := range change {
		if v == nil {
			delete(raw, k)
		} else {
			raw[k] = v
		}
	}
	return ParseBotConfig(sdk.Config{Raw: raw})
}

func TestBotConfigDefaults(t *testing.T) {
	c, err := parse(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 6667 || c.TLS || c.TLSInsecure || c.UID != 3 || c.address() != "#mygame@irc.example.net" ||
		c.networkLabel() != "irc.example.net:6667/#mygame" {
		t.Fatalf("%+v", c)
	}
	c, err = parse(t, map[string]any{"tls": true})
	if err != nil || c.Port != 6697 {
		t.Fatalf("TLS default port: %+v %v", c, err)
	}
	// Values typed at a command line arrive as strings.
	c, err = parse(t, map[string]any{"port": "7000", "tls": "yes", "tls_insecure": "1", "uid": "12"})
	if err != nil || c.Port != 7000 || !c.TLS || !c.TLSInsecure || c.UID != 12 {
		t.Fatalf("string values: %+v %v", c, err)
	}
	c, err = parse(t, map[string]any{"channel": "&local", "nick": "[Bot]_2-x"})
	if err != nil || c.Channel != "&local" {
		t.Fatalf("%+v %v", c, err)
	}
	// The relay limit and the reconnect cap.
	c, err = parse(t, nil)
	if err != nil || c.RelayRate != 5 || c.RelayBurst != 10 || c.MaxReconnects != 0 {
		t.Fatalf("relay and reconnect defaults: %+v %v", c, err)
	}
	c, err = parse(t, map[string]any{"relay_rate": "0.5", "relay_burst": "3", "max_reconnects": 12.0})
	if err != nil || c.RelayRate != 0.5 || c.RelayBurst != 3 || c.MaxReconnects != 12 {
		t.Fatalf("relay and reconnect values: %+v %v", c, err)
	}
	c, err = parse(t, map[string]any{"relay_rate": 0.0})
	if err != nil || c.RelayRate != 0 {
		t.Fatalf("relay limit off: %+v %v", c, err)
	}
}

func TestBotConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		change map[string]any
		want   string
	}{
		{map[string]any{"network": nil}, `config key "network": required`},
		{map[string]any{"network": "irc example"}, `config key "network": "irc example" is not a host name`},
		{map[string]any{"network": "a\r\nb"}, `config key "network"`},
		{map[string]any{"port": "abc"}, `config key "port": want a whole number, got "abc"`},
		{map[string]any{"port": 70000.0}, `config key "port": 70000 is not a port`},
		{map[string]any{"port": 6.5}, `config key "port": want a whole number`},
		{map[string]any{"channel": nil}, `config key "channel": required`},
		{map[string]any{"channel": "mygame"}, `config key "channel": "mygame" is not an IRC channel`},
		{map[string]any{"channel": "#my game"}, `config key "channel"`},
		{map[string]any{"channel": "#a,#b"}, `config key "channel"`},
		{map[string]any{"channel": 5.0}, `config key "channel": want a string, got 5`},
		{map[string]any{"nick": nil}, `config key "nick": required`},
		{map[string]any{"nick": "1bot"}, `config key "nick": "1bot" is not an IRC nick`},
		{map[string]any{"nick": "bot bot"}, `config key "nick"`},
		{map[string]any{"nick": strings.Repeat("a", 31)}, `config key "nick"`},
		{map[string]any{"tls": "maybe"}, `config key "tls": want true or false, got "maybe"`},
		{map[string]any{"sasl_user": "me"}, `config key "sasl_password": sasl_user and sasl_password must be given together`},
		{map[string]any{"sasl_password": "pw"}, `config key "sasl_password"`},
		{map[string]any{"bot": nil}, `config key "bot": required`},
		{map[string]any{"uid": nil}, `config key "uid": required`},
		{map[string]any{"colour": true}, `unknown key "colour"`},
		{map[string]any{"relay_rate": -1.0}, `config key "relay_rate": -1 is not between 0 (no limit) and 1000`},
		{map[string]any{"relay_rate": "fast"}, `config key "relay_rate": want a number, got "fast"`},
		{map[string]any{"relay_rate": 5000.0}, `config key "relay_rate"`},
		{map[string]any{"relay_burst": 0.0}, `config key "relay_burst": 0 is not between 1 and 10000`},
		{map[string]any{"relay_burst": 2.5}, `config key "relay_burst": want a whole number`},
		{map[string]any{"max_reconnects": -1.0}, `config key "max_reconnects": -1 is not a number of reconnects`},
		{map[string]any{"max_reconnects": "never"}, `config key "max_reconnects": want a whole number`},
	} {
		_, err := parse(t, tc.change)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "irc: ") {
			t.Errorf("%v: got %v, want an error with %q", tc.change, err, tc.want)
		}
	}
}

// TestStartBotRefusesBadConfig: StartBot returns the config error and
// makes no session.
func TestStartBotRefusesBadConfig(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, nil)
	_, err := h.p.StartBot(context.Background(), sdk.Config{Raw: h.botConfig(map[string]any{"channel": "nochan"})})
	if err == nil || !strings.Contains(err.Error(), `"channel"`) {
		t.Fatalf("err = %v", err)
	}
	if h.portal.Count() != 0 {
		t.Fatal("a session was made for a bad config")
	}
}

func TestPluginConfig(t *testing.T) {
	p := &Plugin{}
	portal := sdk.NewTestPortal(nil)
	if _, err := p.Configure(context.Background(), sdk.Config{Raw: map[string]any{"listen": ":6667"}}, portal); err == nil ||
		!strings.Contains(err.Error(), `unknown key "listen"`) {
		t.Fatalf("err = %v", err)
	}
}
