package commands

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
)

// adminCommands are the account set's commands for admins only: an account
// created over the network is never an admin (only `portico account create
// --admin` makes one).
func adminCommands() []*Command {
	return []*Command{
		{Key: "@reload", Aliases: []string{"@restart"}, Admin: true,
			Help: "@reload [reason]\n\nRestart the host (a new binary is picked up) without dropping anyone.",
			Func: func(c *Call) { restartCommand(c, c.H.PortalRestartServer) }},
		{Key: "@reset", Admin: true,
			Help: "@reset [reason]\n\nA reload that also drops the host's non-persistent state.",
			Func: func(c *Call) { restartCommand(c, c.H.PortalResetServer) }},
		{Key: "@ban", Admin: true,
			Help: "@ban [<account || IP || CIDR> [= reason]]\n\nList the bans, or ban an account or an address range; its sessions are disconnected.",
			Func: cmdBan},
		{Key: "@unban", Admin: true,
			Help: "@unban <account || IP || CIDR>\n\nLift a ban.",
			Func: cmdUnban},
		{Key: "@boot", Admin: true,
			Help: "@boot <account || session id> [= reason]\n\nDisconnect an account's sessions, or one session.",
			Func: cmdBoot},
		{Key: "@throttle", Admin: true,
			Help: "@throttle/clear [<IP | account>]\n\nLift the login and account-creation throttles of an address or an account (all of them without one), as `portico limits clear` does.",
			Func: cmdThrottle},
		{Key: "@shutdown", Admin: true,
			Help: "@shutdown [reason]\n\nStop the host and every plugin, telling players why.",
			Func: func(c *Call) {
				reason := "Server is shutting down."
				if c.Args != "" {
					reason = fmt.Sprintf("Server is shutting down (Reason: %s).", c.Args)
				}
				c.H.Log().Info("shutdown asked in game", "by", c.S.UName, "reason", c.Args)
				if err := c.H.PortalShutdown(reason); err != nil {
					c.Msg(fmt.Sprintf("Shutdown failed: %v", err))
				}
			}},
	}
}

func restartCommand(c *Call, do func(reason string) error) {
	c.H.Log().Info("restart asked in game", "by", c.S.UName, "command", c.Cmd, "reason", c.Args)
	if err := do(c.Args); err != nil {
		c.Msg(fmt.Sprintf("%s failed: %v", c.Cmd, err))
	}
}

// MsgBanNoAccount warns that a banned name matches no account.
const MsgBanNoAccount = "Warning: no account is named '%s'. The ban stops one of that name from logging in if it is ever created; check the spelling, or @unban it."

func cmdBan(c *Call) {
	if strings.TrimSpace(c.Args) == "" {
		var rows [][]string
		for _, b := range c.H.Bans() {
			rows = append(rows, []string{b.Kind, b.Value, b.CreatedBy, b.Created.Format("2006-01-02"), b.Reason})
		}
		if len(rows) == 0 {
			c.Msg("No bans.")
			return
		}
		c.Msg("Bans:\n" + table([]string{"Kind", "Banned", "By", "On", "Reason"}, rows))
		return
	}
	target, reason, _ := strings.Cut(c.Args, "=")
	target, reason = strings.TrimSpace(target), strings.TrimSpace(reason)
	if strings.EqualFold(target, c.S.UName) {
		c.Msg("You cannot ban yourself.")
		return
	}
	b, err := c.H.Ban(c.H.Context(), target, reason, c.S.UName)
	if err != nil {
		if errors.Is(err, store.ErrBanExists) {
			c.Msg(fmt.Sprintf("%s is banned already.", target))
			return
		}
		c.Msg(fmt.Sprintf("Cannot ban: %s", userError(err)))
		return
	}
	c.H.Log().Info("ban", "by", c.S.UName, "kind", b.Kind, "value", b.Value, "reason", reason)
	c.Msg(fmt.Sprintf("Banned %s %s.", b.Kind, b.Value))
	if b.Kind == "account" {
		// A name nobody has is banned all the same (it stops the name
		// being taken and used), but a typo should not pass for a ban.
		if _, err := c.H.Store().AccountByName(c.H.Context(), b.Value); errors.Is(err, store.ErrNotFound) {
			c.Msg(fmt.Sprintf(MsgBanNoAccount, b.Value))
		}
	}
}

func cmdThrottle(c *Call) {
	target, ok := strings.CutPrefix(strings.TrimSpace(c.Args), "/clear")
	if !ok {
		c.Msg("Usage: @throttle/clear [<IP | account>]")
		return
	}
	target = strings.TrimSpace(target)
	n := c.H.ClearThrottles(target)
	c.H.Log().Info("throttles cleared", "by", c.S.UName, "target", target, "counters", n)
	what := "every address and account"
	if target != "" {
		what = target
	}
	c.Msg(fmt.Sprintf("Cleared %d throttle counter(s) of %s.", n, what))
}

func cmdUnban(c *Call) {
	target := strings.TrimSpace(c.Args)
	if err := c.H.Unban(c.H.Context(), target); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			c.Msg(fmt.Sprintf("%s is not banned.", target))
			return
		}
		c.Msg(fmt.Sprintf("Cannot unban: %s", userError(err)))
		return
	}
	c.H.Log().Info("unban", "by", c.S.UName, "target", target)
	c.Msg(fmt.Sprintf("Unbanned %s.", target))
}

func cmdBoot(c *Call) {
	target, reason, _ := strings.Cut(c.Args, "=")
	target, reason = strings.TrimSpace(target), strings.TrimSpace(reason)
	var victims []*sessions.ServerSession
	if id, err := strconv.ParseUint(target, 10, 64); err == nil {
		if s := c.H.SessionFromSessid(id); s != nil {
			victims = append(victims, s)
		}
	} else {
		for _, s := range c.H.Sessions() {
			if s.LoggedIn && strings.EqualFold(s.UName, target) {
				victims = append(victims, s)
			}
		}
	}
	if len(victims) == 0 {
		c.Msg(fmt.Sprintf("No session of '%s' found.", target))
		return
	}
	for _, s := range victims {
		if s == c.S {
			c.Msg("You cannot boot yourself.")
			return
		}
	}
	for _, s := range victims {
		c.H.Boot(s, c.S.UName, reason)
	}
	c.H.Log().Info("boot", "by", c.S.UName, "target", target, "sessions", len(victims), "reason", reason)
	c.Msg(fmt.Sprintf("Booted %d session(s) of %s.", len(victims), target))
}
