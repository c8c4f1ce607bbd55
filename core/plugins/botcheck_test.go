package plugins

import (
	"testing"

	"github.com/portico-mud/portico/sdk/portalpb"
)

// TestBotProblem: a plugin's problem with a bot's dict is worded with the
// plugin's name and the key, once.
func TestBotProblem(t *testing.T) {
	for _, tt := range []struct {
		p    *portalpb.ConfigProblem
		want string
	}{
		{&portalpb.ConfigProblem{Key: "channel_id", Message: `"general" is not a Discord id`}, `discord: config key "channel_id": "general" is not a Discord id`},
		{&portalpb.ConfigProblem{Message: `discord: config key "nick": bad`}, `discord: config key "nick": bad`},
		{&portalpb.ConfigProblem{Message: `unknown key "tokn_file" (did you mean "token_file"?)`, UnknownKey: "tokn_file"}, `discord: config: unknown key "tokn_file" (did you mean "token_file"?)`},
		{&portalpb.ConfigProblem{Message: "something else"}, "discord: something else"},
	} {
		if got := botProblem("discord", tt.p); got != tt.want {
			t.Errorf("botProblem(%v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}
