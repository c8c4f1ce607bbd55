package commands

import "github.com/portico-mud/portico/sdk/contract"

func firstString(args []any) (string, bool) {
	if len(args) == 0 {
		return "", false
	}
	s, ok := args[0].(string)
	return s, ok
}

// messagePrivmsg is the `privmsg` outputfunc: a private answer to user on
// the bot's network.
func messagePrivmsg(text, user string) contract.Message {
	return contract.Message{Name: "privmsg", Args: []any{text}, Kwargs: map[string]any{"user": user}}
}
