package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"
	"github.com/portico-mud/portico/sdk"
)

// TestBotConfigErrors: every mistake in a bot's config dict is an error
// naming its key, as the IRC plugin's are.
func TestBotConfigErrors(t *testing.T) {
	good := writeToken(t, testToken+"\n")
	empty := writeToken(t, "\n")
	pc := pluginConfig{APIURL: "http://127.0.0.1:1/api/v10/"}
	t.Setenv("PORTICO_TEST_DISCORD_TOKEN", testToken)
	tests := []struct {
		name string
		cfg  map[string]any
		key  string // the key the error names
		msg  string // in the error
	}{
		{"an unknown key", map[string]any{"chanel_id": "1"}, "", `unknown key "chanel_id" (did you mean "channel_id"?)`},
		{"a literal token", map[string]any{"token": testToken}, "token", "token_file=PATH"},
		{"no channel", map[string]any{"channel_id": nil}, "channel_id", "required"},
		{"a channel that is no id", map[string]any{"channel_id": "general"}, "channel_id", `"general" is not a Discord id`},
		{"a negative id", map[string]any{"channel_id": json.Number("-5")}, "channel_id", "not a Discord id"},
		{"an id past 64 bits", map[string]any{"channel_id": "99999999999999999999"}, "channel_id", "not a Discord id"},
		{"another api_url", map[string]any{"api_url": "https://discord.example/api/v10/"}, "api_url", "one set for the whole plugin process"},
		{"an api_url that is no URL", map[string]any{"api_url": "ftp://x"}, "api_url", "not an http(s) URL"},
		{"no token anywhere", map[string]any{"token_file": nil}, "token_file", "required"},
		{"a token file that is not there", map[string]any{"token_file": "/nonexistent/token"}, "token_file", "no such file"},
		{"an empty token file", map[string]any{"token_file": empty}, "token_file", "is empty"},
		{"a token variable not set", map[string]any{"token_file": nil, "token_env": "PORTICO_TEST_NO_SUCH_VARIABLE"}, "token_env", "is not set"},
		{"both token_file and token_env", map[string]any{"token_env": "PORTICO_TEST_DISCORD_TOKEN"}, "token_env", "not both"},
		{"no uid", map[string]any{"uid": nil}, "uid", "required"},
		{"a uid that is no number", map[string]any{"uid": "seven"}, "uid", "want a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := botConfig(map[string]any{"token_file": good})
			for k, v := range tt.cfg {
				if v == nil {
					delete(raw, k)
				} else {
					raw[k] = v
				}
			}
			_, err := parseBotConfig(sdk.Config{Raw: raw}, pc, true)
			if err == nil {
				t.Fatal("no error")
			}
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) || ce.Key != tt.key || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q (key %q), want key %q and %q", err, keyOf(err), tt.key, tt.msg)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatalf("the error holds the token: %v", err)
			}
		})
	}
}

func keyOf(err error) string {
	var ce *sdk.ConfigError
	if errors.As(err, &ce) {
		return ce.Key
	}
	return "(none)"
}

// TestBotConfigGood: ids come through exactly as a number, a string, a
// comma list or a list; the token file's trailing newline is trimmed; the
// token may come from the environment or the plugin's block; the same
// api_url as the plugin's (without its slash) is accepted; a dict checked
// before the bot exists needs no uid.
func TestBotConfigGood(t *testing.T) {
	file := writeToken(t, testToken+"\r\n")
	t.Setenv("PORTICO_TEST_DISCORD_TOKEN", "Bot "+testToken)
	pc := pluginConfig{APIURL: "http://127.0.0.1:1/api/v10/", TokenFile: file}
	for _, tt := range []struct {
		name string
		cfg  map[string]any
		ids  []string
	}{
		{"a number", map[string]any{"channel_id": json.Number("1234567890123456789")}, []string{"1234567890123456789"}},
		{"a string", map[string]any{"channel_id": "1234567890123456789"}, []string{"1234567890123456789"}},
		{"a comma list", map[string]any{"channel_id": "111, 222"}, []string{"111", "222"}},
		{"a list", map[string]any{"channel_id": []any{json.Number("111"), "222,333"}}, []string{"111", "222", "333"}},
		{"the token from a file", map[string]any{"token_file": file}, []string{bridged}},
		{"the token from the environment", map[string]any{"token_env": "PORTICO_TEST_DISCORD_TOKEN"}, []string{bridged}},
		{"the plugin's api_url", map[string]any{"api_url": "http://127.0.0.1:1/api/v10"}, []string{bridged}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseBotConfig(sdk.Config{Raw: botConfig(tt.cfg)}, pc, true)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.ChannelIDs, tt.ids) {
				t.Fatalf("ids %q, want %q", c.ChannelIDs, tt.ids)
			}
			tok, err := c.token(pc)
			if err != nil || tok != testToken {
				t.Fatalf("token %q, %v; want it without newline or Bot prefix", tok, err)
			}
		})
	}
	raw := botConfig(map[string]any{"uid": nil, "bot": nil})
	if _, err := parseBotConfig(sdk.Config{Raw: raw}, pc, false); err != nil {
		t.Fatalf("a dict checked before the bot exists: %v", err)
	}
	p := &Plugin{}
	if err := p.ValidateBot(context.Background(), sdk.Config{Raw: map[string]any{"channel_id": "1", "token_env": "PORTICO_TEST_DISCORD_TOKEN"}}); err != nil {
		t.Fatalf("ValidateBot before Configure: %v", err)
	}
}

// TestPluginConfig: the plugin's block takes api_url, token_file and
// token_env; a literal token, a bad URL or an unknown key is refused,
// naming the key; a changed block needs a restart, naming its key.
func TestPluginConfig(t *testing.T) {
	file := writeToken(t, testToken+"\n")
	p := &Plugin{}
	for _, tt := range []struct {
		raw map[string]any
		key string
	}{
		{map[string]any{"token": testToken}, "token"},
		{map[string]any{"api_url": "discord.com"}, "api_url"},
		{map[string]any{"token_file": "/nonexistent"}, "token_file"},
		{map[string]any{"token_file": file, "token_env": "HOME"}, "token_env"},
		{map[string]any{"api_ulr": "x"}, ""},
	} {
		err := p.Validate(context.Background(), sdk.Config{Raw: tt.raw})
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Key != tt.key {
			t.Errorf("block %v: error %v, want one naming %q", tt.raw, err, tt.key)
		}
	}
	pc, err := parsePluginConfig(sdk.Config{Raw: map[string]any{}})
	if err != nil || pc.APIURL != defaultAPIURL {
		t.Fatalf("default block: %+v, %v", pc, err)
	}
	a := pluginConfig{APIURL: "http://127.0.0.1:1/api/v10/"}
	b := a
	b.APIURL = "http://127.0.0.1:2/api/v10/"
	if k := changedKey(a, b); k != "api_url" {
		t.Errorf("changed key %q, want api_url", k)
	}
	b = a
	b.TokenFile = file
	if k := changedKey(a, b); k != "token_file" {
		t.Errorf("changed key %q, want token_file", k)
	}
	if k := changedKey(a, a); k != "" {
		t.Errorf("changed key %q for the same block", k)
	}
}

// TestSetAPI: every REST endpoint discordgo uses, and the gateway's,
// follows api_url, and the gateway speaks version 10.
func TestSetAPI(t *testing.T) {
	api := "http://127.0.0.1:9/api/v10/"
	if err := setAPI(api); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = setAPI(defaultAPIURL) })
	if discordgo.APIVersion != "10" {
		t.Errorf("APIVersion %q", discordgo.APIVersion)
	}
	for name, got := range map[string]string{
		"EndpointGateway":         discordgo.EndpointGateway,
		"EndpointGatewayBot":      discordgo.EndpointGatewayBot,
		"EndpointChannelMessages": discordgo.EndpointChannelMessages("1"),
		"EndpointChannel":         discordgo.EndpointChannel("1"),
		"EndpointGuild":           discordgo.EndpointGuild("1"),
		"EndpointUser":            discordgo.EndpointUser("@me"),
		"EndpointApplications":    discordgo.EndpointApplications,
		"EndpointWebhooks":        discordgo.EndpointWebhooks,
	} {
		if !strings.HasPrefix(got, api) {
			t.Errorf("%s = %q, not under %s", name, got, api)
		}
	}
	if discordgo.EndpointDiscord != "http://127.0.0.1:9/" {
		t.Errorf("EndpointDiscord = %q", discordgo.EndpointDiscord)
	}
}
