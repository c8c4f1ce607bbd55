package commands

import (
	"errors"
	"fmt"
	"strings"

	"github.com/portico-mud/portico/core/store"
)

// sshKeysCommand lets players manage the public keys that log them in over
// SSH: their own keys only.
func sshKeysCommand() *Command {
	return &Command{Key: "@sshkeys", Aliases: []string{"sshkeys"},
		Help: "@sshkeys [add <public key> || remove <fingerprint>]\n\nList, add or remove the SSH public keys that log you in without a password.\nAdd a key as one line, as in ~/.ssh/id_ed25519.pub.",
		Func: cmdSSHKeys}
}

func cmdSSHKeys(c *Call) {
	if c.S.Account == nil {
		c.Msg("You are not logged in.")
		return
	}
	st := c.H.Store()
	ctx := c.H.Context()
	verb, rest, _ := strings.Cut(c.Args, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(verb) {
	case "":
		keys, err := st.SSHKeys(ctx, c.S.Account.ID)
		if err != nil {
			c.H.Log().Error("list ssh keys", "err", err)
			c.Msg("Your keys could not be listed. Please try again later.")
			return
		}
		if len(keys) == 0 {
			c.Msg("You have no SSH keys. Add one with: @sshkeys add <public key>")
			return
		}
		var rows [][]string
		for _, k := range keys {
			rows = append(rows, []string{k.Fingerprint, strings.Fields(k.PublicKey)[0], k.Comment})
		}
		c.Msg("Your SSH keys:\n" + table([]string{"Fingerprint", "Type", "Comment"}, rows))
	case "add":
		k, err := st.AddSSHKey(ctx, c.S.Account.ID, rest)
		switch {
		case err == nil:
			c.Msg(fmt.Sprintf("Key %s added. You can now log in over SSH with it.", k.Fingerprint))
		case errors.Is(err, store.ErrBadKey), errors.Is(err, store.ErrKeyTaken):
			c.Msg(userError(err))
		default:
			c.Msg(userError(err))
		}
	case "remove", "rm", "del":
		if err := st.RemoveSSHKey(ctx, c.S.Account.ID, rest); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				c.Msg(fmt.Sprintf("You have no key %q.", rest))
				return
			}
			c.Msg(userError(err))
			return
		}
		c.Msg(fmt.Sprintf("Key %s removed.", rest))
	default:
		c.Msg("Usage: @sshkeys [add <public key> || remove <fingerprint>]")
	}
}
