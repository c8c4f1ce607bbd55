package host_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/portico-mud/portico/core/attrs"
	"github.com/portico-mud/portico/core/commands"
	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/core/host/hosttest"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/sdk/contract"
)

// A game is its options. Here the whole of one: a command that counts how
// often a character has waved, kept in the attribute store. A real game's
// main calls host.Main with the same options; hosttest runs them
// in-process, as a game's tests do.
func Example() {
	wave := &commands.Command{
		Key:  "wave",
		Help: "wave\n\nWave, and see how often you have.",
		Func: func(c *commands.Call) {
			me := attrs.Character(c.S.Puppet.ID)
			var n int
			_, _ = c.H.Attrs().Get(me, "waves", &n)
			n++
			_ = c.H.Attrs().Set(me, "waves", n)
			c.Msg(fmt.Sprintf("You wave (%d times now).", n))
		},
	}
	g, err := hosttest.Start(host.WithCommand(wave))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	alice, _ := g.Login("alice")
	alice.Output() // the login's own output
	fmt.Println(alice.Command("wave"))
	fmt.Println(alice.Command("wave"))
	// Output:
	// You wave (1 times now).
	// You wave (2 times now).
}

// WithCommand adds a command for logged-in players, or replaces a default
// one with the same key.
func ExampleWithCommand() {
	look := &commands.Command{Key: "look", Aliases: []string{"l"}, Help: "look\n\nLook around.",
		Func: func(c *commands.Call) { c.Msg("A bare stone room. " + c.S.Puppet.Name + " stands here.") }}
	g, _ := hosttest.Start(host.WithCommand(look))
	defer g.Close()
	bob, _ := g.Login("bob")
	bob.Output()
	fmt.Println(bob.Command("l"))
	// Output: A bare stone room. bob stands here.
}

// WithCommands adds a set of commands to the default set of the same
// name: here, one more command before login.
func ExampleWithCommands() {
	motd := &commands.Command{Key: "motd", Help: "motd\n\nToday's news.",
		Func: func(c *commands.Call) { c.Msg("The bridge is open again.") }}
	g, _ := hosttest.Start(host.WithCommands(commands.NewSet(sessions.CmdsetUnloggedIn, motd)))
	defer g.Close()
	visitor := g.Connect()
	visitor.Output() // the connection screen
	fmt.Println(visitor.Command("motd"))
	// Output: The bridge is open again.
}

// WithoutCommand removes a default command, before and after login.
func ExampleWithoutCommand() {
	g, _ := hosttest.Start(host.WithoutCommand("who"))
	defer g.Close()
	carol, _ := g.Login("carol")
	carol.Output()
	fmt.Println(carol.Command("who"))
	// Output: Command 'who' is not available. Type "help" for help.
}

// WithInputfunc answers input a client sends out of band: a GMCP package
// Char.Stats.Get arrives as char_stats_get.
func ExampleWithInputfunc() {
	stats := sessions.Inputfunc{
		Doc: "Send the character's stats.",
		Func: func(h *sessions.ServerSessionHandler, s *sessions.ServerSession, args []any, kwargs map[string]any) {
			s.Send(contract.Message{Name: "char_stats", Kwargs: map[string]any{"name": s.Puppet.Name, "hp": 12}})
		},
	}
	g, _ := hosttest.Start(host.WithInputfunc("char_stats_get", stats))
	defer g.Close()
	dave, _ := g.Login("dave")
	dave.Input(contract.Message{Name: "char_stats_get"})
	for _, m := range dave.OOB() {
		if m.Name == "char_stats" {
			fmt.Println(m.Kwargs["name"], m.Kwargs["hp"])
		}
	}
	// Output: dave 12
}

// OnLogin runs after every login, with the account and character set,
// before the player's first look.
func ExampleOnLogin() {
	greet := func(s *sessions.ServerSession) { s.Msg("Welcome back, " + s.Puppet.Name + ".") }
	g, _ := hosttest.Start(host.OnLogin(greet))
	defer g.Close()
	erin, _ := g.Login("erin")
	out := erin.Output()
	fmt.Println(strings.Contains(out, "Welcome back, erin."))
	// Output: true
}

// OnDisconnect runs whenever a session ends; the others are still there
// to be told.
func ExampleOnDisconnect() {
	farewell := func(s *sessions.ServerSession, reason string) {
		for _, o := range s.Handler().Sessions() {
			if o.LoggedIn {
				o.Msg(s.UName + " has left the game.")
			}
		}
	}
	g, _ := hosttest.Start(host.OnDisconnect(farewell))
	defer g.Close()
	frank, _ := g.Login("frank")
	gina, _ := g.Login("gina")
	gina.Output()
	frank.Quit()
	fmt.Println(gina.Output())
	// Output: frank has left the game.
}

// WithConnectScreen replaces the screen a new connection sees.
func ExampleWithConnectScreen() {
	screen := func(s *sessions.ServerSession) string {
		return "~ The Salt Road ~\nconnect <name> <password>, or create <name> <password>"
	}
	g, _ := hosttest.Start(host.WithConnectScreen(screen))
	defer g.Close()
	fmt.Println(g.Connect().Output())
	// Output:
	// ~ The Salt Road ~
	// connect <name> <password>, or create <name> <password>
}

// OnStart runs each time the host image starts, before any session: the
// place to seed the world and start timers, which run on the loop like
// every other piece of game code.
func ExampleOnStart() {
	done := make(chan string, 1)
	seed := func(h *sessions.ServerSessionHandler) error {
		if err := h.Attrs().Set(attrs.World(), "season", "spring"); err != nil {
			return err
		}
		h.After(10*time.Millisecond, func() {
			var season string
			_, _ = h.Attrs().Get(attrs.World(), "season", &season)
			done <- "The " + season + " rain begins."
		})
		return nil
	}
	g, _ := hosttest.Start(host.OnStart(seed))
	defer g.Close()
	fmt.Println(<-done)
	// Output: The spring rain begins.
}

// WithGameConfig registers the struct the game: block of config.yaml is
// decoded into; its values when registered are the defaults.
func ExampleWithGameConfig() {
	settings := struct {
		StartRoom int    `mapstructure:"start_room"`
		Motd      string `mapstructure:"motd"`
	}{StartRoom: 1, Motd: "Welcome!"}
	g, err := hosttest.Start(host.WithGameConfig(&settings))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	// hosttest has no game: block, so the defaults stand.
	fmt.Println(settings.StartRoom, settings.Motd)
	// Output: 1 Welcome!
}

// A game's main is one call to Main with the game's options: it is the
// whole portico command line (start, stop, reload, status, account ...)
// for the game's own binary.
func ExampleMain() {
	settings := struct {
		StartRoom int `mapstructure:"start_room"`
	}{StartRoom: 1}
	host.Main(
		host.WithGameConfig(&settings),
		host.WithCommand(&commands.Command{Key: "xyzzy", Help: "xyzzy\n\nNothing happens.",
			Func: func(c *commands.Call) { c.Msg("Nothing happens.") }}),
	)
}

// NewCommand is the command line Main runs, for a game that adds its own
// subcommands or runs one itself: here, `account create`, which needs no
// running host.
func ExampleNewCommand() {
	dir, err := os.MkdirTemp("", "portico-cli-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("server:\n  data_dir: data\n  argon2_memory_kib: 64\n  argon2_time: 1\n"), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	cli := host.NewCommand()
	cli.SetArgs([]string{"account", "create", "alice", "--config", cfg})
	cli.SetIn(strings.NewReader("a long password\n"))
	cli.SetOut(os.Stdout)
	if err := cli.Execute(); err != nil {
		fmt.Println(err)
	}
	// Output: created account alice (#1)
}
