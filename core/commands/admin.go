package commands

import "fmt"

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
