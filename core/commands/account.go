package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/sdk/contract"
)

// AccountSet is the command set of a logged-in session.
func AccountSet() *Set {
	set := NewSet(sessions.CmdsetAccount,
		&Command{Key: "look", Aliases: []string{"l", "ls"}, Help: "look\n\nLook at where you are.", Func: cmdLook},
		&Command{Key: "say", Aliases: []string{`"`, "'"}, Help: "say <message>\n\nTalk to everyone in the game.", Func: cmdSay,
			ReportsTyping: true},
		whoCommand(cmdWho),
		&Command{Key: "help", Aliases: []string{"h", "?"}, Help: "help [command]\n\nList the commands, or show one command's help.", Func: cmdHelp},
		&Command{Key: "quit", Help: "quit [all]\n\nClose this session, or all of your sessions.", Func: cmdQuit},
		&Command{Key: "@sessions", Aliases: []string{"sessions"}, Help: "@sessions\n\nList your sessions.", Func: cmdSessions},
		pingCommand(),
		sshKeysCommand(),
	)
	for _, c := range characterCommands() {
		set.Add(c)
	}
	for _, c := range adminCommands() {
		set.Add(c)
	}
	return set
}

func cmdLook(c *Call) {
	var here []string
	for _, acc := range c.H.AllConnectedAccounts() {
		here = append(here, acc.Name)
	}
	name := c.S.UName
	if c.S.Puppet != nil {
		name = c.S.Puppet.Name
	}
	c.Msg(fmt.Sprintf("%s\nWelcome to %s, %s. This is where everyone starts; talk with say.\nPlayers here: %s",
		RoomName, c.H.Settings().ServerName, name, strings.Join(here, ", ")))
}

func speaker(s *sessions.ServerSession) string {
	if s.Puppet != nil {
		return s.Puppet.Name
	}
	return s.UName
}

func cmdSay(c *Call) {
	if c.Args == "" {
		c.Msg("Say what?")
		return
	}
	c.Msg(fmt.Sprintf(`You say, "%s"`, c.Args))
	var others []*sessions.ServerSession
	for _, s := range c.H.Sessions() {
		if s.LoggedIn && s != c.S {
			others = append(others, s)
		}
	}
	c.H.Broadcast(others, contract.Text(fmt.Sprintf(`%s says, "%s"`, speaker(c.S), c.Args)))
}

// whoCommand is `who` (and `doing`) running f.
func whoCommand(f func(c *Call)) *Command {
	return &Command{Key: "who", Aliases: []string{"doing"}, Help: "who\n\nSee who is online.", Func: f}
}

func cmdWho(c *Call) { listWho(c, nil) }

// listWho is Evennia's who: the accounts logged in, each once. botLabel,
// when set, names the bridge bots' accounts: they are listed apart, after
// the players, and not counted among them, for a bot is nobody to talk to.
func listWho(c *Call, botLabel func(uid int64) (string, bool)) {
	now := time.Now()
	var rows [][]string
	var bots []string
	seen := map[int64]bool{}
	for _, s := range c.H.Sessions() {
		if !s.LoggedIn || seen[s.UID] {
			continue
		}
		seen[s.UID] = true
		if botLabel != nil {
			if label, ok := botLabel(s.UID); ok {
				bots = append(bots, label)
				continue
			}
		}
		rows = append(rows, []string{s.UName, Duration(now.Sub(s.ConnTime)), Duration(now.Sub(s.CmdLastVisible))})
	}
	plural := "s"
	if len(rows) == 1 {
		plural = ""
	}
	out := fmt.Sprintf("Accounts:\n%s\n%d unique account%s logged in.",
		table([]string{"Account name", "On for", "Idle"}, rows), len(rows), plural)
	if len(bots) > 0 {
		out += "\nBridge bots: " + strings.Join(bots, ", ") + "."
	}
	c.Msg(out)
}

func cmdHelp(c *Call) {
	if c.Args != "" {
		cmd := c.Set.Lookup(c.Args)
		if cmd == nil || (cmd.Admin && !c.S.IsAdmin()) {
			c.Msg(fmt.Sprintf("No help found for '%s'.", c.Args))
			return
		}
		c.Msg(fmt.Sprintf("Help for %s:\n%s", cmd.Key, cmd.Help))
		return
	}
	var lines []string
	mode := c.H.Settings().MultisessionMode
	for _, cmd := range c.Set.Commands() {
		if (cmd.Admin && !c.S.IsAdmin()) || !cmd.listedIn(mode) {
			continue
		}
		summary, _, _ := strings.Cut(cmd.Help, "\n")
		lines = append(lines, "  "+summary)
	}
	c.Msg("Commands:\n" + strings.Join(lines, "\n") + "\nType help <command> for more.")
}

func cmdQuit(c *Call) {
	mine := c.H.SessionsFromAccount(c.S.UID)
	if strings.EqualFold(c.Args, "all") {
		c.Msg("Quitting all sessions. Hope to see you soon again.")
		for _, s := range mine {
			c.H.Disconnect(s, "quit/all", true)
		}
		return
	}
	switch n := len(mine); {
	case n == 2:
		c.Msg("Quitting. One session is still connected.")
	case n > 2:
		c.Msg(fmt.Sprintf("Quitting. %d sessions are still connected.", n-1))
	default:
		c.Msg("Quitting. Hope to see you again, soon.")
	}
	c.H.Disconnect(c.S, "", true)
}

func cmdSessions(c *Call) {
	var rows [][]string
	for _, s := range c.H.SessionsFromAccount(c.S.UID) {
		puppet := "-"
		if s.Puppet != nil {
			puppet = s.Puppet.Name
		}
		rows = append(rows, []string{fmt.Sprint(s.Sessid), s.ProtocolKey, s.Address, puppet})
	}
	c.Msg("Your current session(s):\n" + table([]string{"#", "Protocol", "Host", "Puppet/Character"}, rows))
}

// Duration formats a duration as Evennia's who does: 42s, 5m, 3h, 2d.
func Duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// pingCommand answers at once: a liveness check for players, bots and the
// benchmark, which measures the whole input-to-output path with it.
func pingCommand() *Command {
	return &Command{Key: "ping", Help: "ping [text]\n\nThe server answers pong [text] at once.", Func: func(c *Call) {
		if c.Args == "" {
			c.Msg("pong")
			return
		}
		c.Msg("pong " + c.Args)
	}}
}
