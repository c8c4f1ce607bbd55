// Package commands is the host's command parser and default command set:
// what a player can type before logging in (connect, create, look, help,
// who, quit) and after (look, say, who, help, quit, @sessions).
//
// Commands run on the session handler's loop; anything slow (a password
// hash) goes through the handler's Async.
package commands

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/portico-mud/portico/core/channels"
	"github.com/portico-mud/portico/core/sessions"
)

// Command is one command of a command set.
type Command struct {
	Key     string
	Aliases []string
	// Help is the help entry: a usage line, a blank line, then prose. It is
	// markup like all output: a literal | is written || (markup.Escape's
	// rule), or |w in "join|who" would turn the rest bright white.
	Help string
	// Admin commands are shown and run only for admin accounts.
	Admin bool
	// ReportsTyping marks a command whose typing the webclient reports to
	// the others who would hear it (Evennia's client_live_report_typing:
	// say and pose there): its key and aliases are the keywords the
	// is_typing set-up answers (typing.go).
	ReportsTyping bool
	// Modes, when set, are the multisession modes in which help lists the
	// command: those where it does something (charcreate, ic and ooc are
	// for an account with several characters, modes 2 and 3). Empty means
	// every mode.
	Modes []int
	Func  func(c *Call)
}

// Call is one invocation of a command: what a command's Func is given,
// whether the command is one of the defaults or a game's. It runs on the
// session handler's loop, which owns the game state: a command needs no
// locks.
type Call struct {
	// H is the session handler, with its lookups (Sessions,
	// SessionsFromPuppet, SessionsFromAccount ...), output (Broadcast),
	// the store and the game's attribute store (Attrs).
	H *sessions.ServerSessionHandler
	// S is the caller's session: its Account and Puppet (nil before login,
	// or out of character), its protocol flags, Msg and Send.
	S *sessions.ServerSession
	// Cmd is the command as the player typed it; Args is the rest of the
	// line with surrounding space trimmed.
	Cmd  string
	Args string
	// Set is the command set the command was found in.
	Set *Set

	commands *Handler
}

// Msg sends text to the caller.
func (c *Call) Msg(text string) { c.S.Msg(text) }

// listedIn reports whether help lists the command in multisession mode.
func (c *Command) listedIn(mode int) bool {
	return len(c.Modes) == 0 || slices.Contains(c.Modes, mode)
}

// Set is a command set (Evennia's cmdset).
type Set struct {
	Name  string
	cmds  []*Command
	index map[string]*Command
}

// NewSet makes a command set from cmds.
func NewSet(name string, cmds ...*Command) *Set {
	s := &Set{Name: name, index: map[string]*Command{}}
	for _, c := range cmds {
		s.Add(c)
	}
	return s
}

// Add adds or replaces a command (by key and aliases).
func (s *Set) Add(c *Command) {
	for i, old := range s.cmds {
		if old.Key == c.Key {
			s.cmds = append(s.cmds[:i], s.cmds[i+1:]...)
			// Drop the replaced command's names, so that none of its
			// aliases still finds it.
			for name, cmd := range s.index {
				if cmd == old {
					delete(s.index, name)
				}
			}
			break
		}
	}
	s.cmds = append(s.cmds, c)
	s.index[strings.ToLower(c.Key)] = c
	for _, a := range c.Aliases {
		s.index[strings.ToLower(a)] = c
	}
}

// Remove removes the command with key (and its aliases) and reports
// whether there was one.
func (s *Set) Remove(key string) bool {
	for i, old := range s.cmds {
		if strings.EqualFold(old.Key, key) {
			s.cmds = append(s.cmds[:i], s.cmds[i+1:]...)
			for name, cmd := range s.index {
				if cmd == old {
					delete(s.index, name)
				}
			}
			return true
		}
	}
	return false
}

// Lookup finds a command by key or alias.
func (s *Set) Lookup(name string) *Command { return s.index[strings.ToLower(name)] }

// Commands returns the set's commands sorted by key.
func (s *Set) Commands() []*Command {
	out := append([]*Command(nil), s.cmds...)
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Handler parses lines of text and runs them against the session's command
// set: the unlogged-in set before login, the account set after.
type Handler struct {
	UnloggedIn *Set
	Account    *Set
	// ConnectScreen, when set, makes the connection screen shown on
	// connect and by look before login; by default it is ConnectionScreen
	// with the server's name.
	ConnectScreen func(s *sessions.ServerSession) string
	handler       *sessions.ServerSessionHandler
	channels      *channels.Service
	// checkBot checks a bot's config dict through its plugin before the
	// bot is stored (SetBotChecker); nil checks nothing.
	checkBot BotChecker
}

var _ sessions.CommandHandler = (*Handler)(nil)

// NewHandler makes a command handler with the default command sets, and
// registers the stock game's location (Limbo, where every character is) as
// a value clients may get and watch.
func NewHandler(h *sessions.ServerSessionHandler) *Handler {
	// The name is a constant that RegisterMonitorable accepts.
	_ = h.RegisterMonitorable("location", sessions.Monitorable{Doc: "The room the character is in.",
		Value: func(s *sessions.ServerSession) (any, bool) {
			if s.Puppet == nil {
				return nil, false
			}
			return RoomName, true
		}})
	ch := &Handler{UnloggedIn: UnloggedInSet(), Account: AccountSet(), handler: h}
	ch.registerTyping()
	return ch
}

// RoomName is the stock game's one room, where every character is.
const RoomName = "Limbo"

// SetFor returns the command set session s uses now.
func (ch *Handler) SetFor(s *sessions.ServerSession) *Set {
	if s.LoggedIn {
		return ch.Account
	}
	return ch.UnloggedIn
}

// Execute runs one line as a command for s.
func (ch *Handler) Execute(s *sessions.ServerSession, line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	name, args := splitCommand(line)
	set := ch.SetFor(s)
	cmd := set.Lookup(name)
	if base, sw, ok := strings.Cut(name, "/"); cmd == nil && ok {
		// Evennia's switches: cmd/switch args reaches cmd as "/switch args".
		if cmd = set.Lookup(base); cmd != nil {
			name, args = base, strings.TrimSpace("/"+sw+" "+args)
		}
	}
	start := time.Now()
	if cmd == nil && ch.talkOnChannel(s, name, args) {
		ch.handler.Meter().Command(CommandChannel, time.Since(start))
		return
	}
	if cmd == nil || (cmd.Admin && !s.IsAdmin()) {
		ch.handler.Meter().Command(CommandUnknown, time.Since(start))
		s.Msg(fmt.Sprintf("Command '%s' is not available. Type \"help\" for help.", name))
		return
	}
	cmd.Func(&Call{H: ch.handler, S: s, Cmd: name, Args: args, Set: set, commands: ch})
	// By its key, not as typed: the metric's label values stay the
	// commands the game has.
	ch.handler.Meter().Command(cmd.Key, time.Since(start))
}

// Names a command is counted under (sessions.Meter) when it is no
// command's key: a line that talks on a channel, and one that names no
// command the session may run.
const (
	CommandChannel = "<channel>"
	CommandUnknown = "<unknown>"
)

// splitCommand splits a line into command name and arguments. A leading
// ' or " is the say shortcut, as in Evennia and most MUDs.
func splitCommand(line string) (name, args string) {
	if line[0] == '"' || line[0] == '\'' {
		return line[:1], strings.TrimSpace(line[1:])
	}
	name, args, _ = strings.Cut(line, " ")
	return name, strings.TrimSpace(args)
}

// splitNamePassword splits `name password`, or `"name with spaces"
// password`, as Evennia's connect and create do. A missing password is "".
func splitNamePassword(args string) (name, password string, ok bool) {
	args = strings.TrimSpace(args)
	if args == "" {
		return "", "", false
	}
	if args[0] == '"' {
		end := strings.IndexByte(args[1:], '"')
		if end < 0 {
			return "", "", false
		}
		return args[1 : end+1], strings.TrimSpace(args[end+2:]), true
	}
	name, password, _ = strings.Cut(args, " ")
	return name, strings.TrimSpace(password), true
}

// table formats rows in left-aligned columns, the header first.
func table(header []string, rows [][]string) string {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = len(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteByte(' ')
		for i, c := range cells {
			if i == len(cells)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[i]-len([]rune(c))+2))
		}
		b.WriteByte('\n')
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
	return strings.TrimRight(b.String(), "\n")
}
