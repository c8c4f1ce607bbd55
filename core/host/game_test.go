package host_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/attrs"
	"github.com/portico-mud/portico/core/commands"
	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/core/host/hosttest"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/leakcheck"
)

// TestMain fails the run when a goroutine the tests started (a game's
// loop, an attribute writer) outlives them.
func TestMain(m *testing.M) { leakcheck.Main(m) }

// TestCommandsReplacedAndRemoved: a game adds commands to either set,
// replaces a default one and removes another from both sets; the other
// defaults stay.
func TestCommandsReplacedAndRemoved(t *testing.T) {
	g := hosttest.New(t,
		host.WithCommand(&commands.Command{Key: "look", Aliases: []string{"l"}, Help: "look\n\nLook around.",
			Func: func(c *commands.Call) { c.Msg("A small room.") }}),
		host.WithCommands(commands.NewSet(sessions.CmdsetUnloggedIn,
			&commands.Command{Key: "motd", Help: "motd\n\nThe message of the day.", Func: func(c *commands.Call) { c.Msg("Be kind.") }})),
		host.WithoutCommand("who"),
	)
	visitor := g.Connect()
	visitor.Output()
	if out := visitor.Command("motd"); out != "Be kind." {
		t.Errorf("motd before login: %q", out)
	}
	if out := visitor.Command("who"); !strings.Contains(out, "Command 'who' is not available") {
		t.Errorf("who before login, removed: %q", out)
	}
	alice, err := g.Login("alice")
	if err != nil {
		t.Fatal(err)
	}
	if out := alice.Output(); !strings.HasSuffix(out, "A small room.") {
		t.Errorf("the look after login is the game's: %q", out)
	}
	if out := alice.Command("l"); out != "A small room." {
		t.Errorf("look's alias: %q", out)
	}
	if out := alice.Command("who"); !strings.Contains(out, "Command 'who' is not available") {
		t.Errorf("who after login, removed: %q", out)
	}
	if out := alice.Command("say hi"); out != `You say, "hi"` {
		t.Errorf("say, a default kept: %q", out)
	}
	if out := alice.Command("motd"); !strings.Contains(out, "not available") {
		t.Errorf("motd is the unlogged-in set's only: %q", out)
	}
	if out := alice.Command("help"); !strings.Contains(out, "  look\n") || strings.Contains(out, "  who\n") {
		t.Errorf("help lists the game's look, and no who: %q", out)
	}
}

// TestCallIsTheDefaults: a game's command gets the caller's session,
// account and puppet, and the handler's lookups and broadcasts, as the
// default commands do.
func TestCallIsTheDefaults(t *testing.T) {
	g := hosttest.New(t, host.WithCommand(&commands.Command{Key: "shout", Func: func(c *commands.Call) {
		var others []*sessions.ServerSession
		for _, s := range c.H.Sessions() {
			if s.LoggedIn && s != c.S {
				others = append(others, s)
			}
		}
		c.H.Broadcast(others, contract.Text(fmt.Sprintf("%s (account %s) shouts: %s", c.S.Puppet.Name, c.S.Account.Name, c.Args)))
		c.Msg(fmt.Sprintf("You shout to %d others as %q.", len(others), c.Cmd))
	}}))
	alice, err := g.Login("alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := g.Login("bob")
	if err != nil {
		t.Fatal(err)
	}
	alice.Output()
	bob.Output()
	if out := alice.Command("SHOUT  hello all "); out != `You shout to 1 others as "SHOUT".` {
		t.Errorf("the caller: %q", out)
	}
	if out := bob.Output(); out != "alice (account alice) shouts: hello all" {
		t.Errorf("the other: %q", out)
	}
}

// TestHooksAndInputfunc: the login hook runs with the account and puppet
// set, before the first look; the disconnect hook runs for each way a
// session ends, when others can still be told; a game's inputfunc answers
// an OOB message; the connect screen is the game's; a start hook runs
// before any session.
func TestHooksAndInputfunc(t *testing.T) {
	var events []string
	g := hosttest.New(t,
		host.OnStart(func(h *sessions.ServerSessionHandler) error {
			events = append(events, fmt.Sprintf("start with %d sessions", h.Count()))
			return nil
		}),
		host.OnLogin(func(s *sessions.ServerSession) {
			events = append(events, "login "+s.Account.Name+" as "+s.Puppet.Name)
			s.Msg("Welcome back, " + s.Puppet.Name + ".")
		}),
		host.OnDisconnect(func(s *sessions.ServerSession, reason string) {
			events = append(events, fmt.Sprintf("disconnect %s: %s", s.UName, reason))
			for _, o := range s.Handler().Sessions() {
				o.Msg(s.UName + " has left.")
			}
		}),
		host.WithInputfunc("Char.Stats.Get", sessions.Inputfunc{Doc: "Send the character's stats.",
			Func: func(h *sessions.ServerSessionHandler, s *sessions.ServerSession, args []any, kwargs map[string]any) {
				s.Send(contract.Message{Name: "char_stats", Kwargs: map[string]any{"name": s.UName, "hp": 10}})
			}}),
		host.WithConnectScreen(func(s *sessions.ServerSession) string {
			return "== The Tiny Gate ==\nconnect <name> <password>"
		}),
	)
	visitor := g.Connect()
	if out := visitor.Output(); out != "== The Tiny Gate ==\nconnect <name> <password>" {
		t.Errorf("connect screen: %q", out)
	}
	alice, err := g.Login("alice")
	if err != nil {
		t.Fatal(err)
	}
	if out := alice.Output(); !strings.Contains(out, "Welcome back, alice.") ||
		strings.Index(out, "Welcome back") > strings.Index(out, "Limbo") {
		t.Errorf("login output, the hook's line before the look: %q", out)
	}
	alice.Input(contract.Message{Name: "char.stats.get"})
	oob := alice.OOB()
	var stats *contract.Message
	for i := range oob {
		if oob[i].Name == "char_stats" {
			stats = &oob[i]
		}
	}
	if stats == nil || stats.Kwargs["name"] != "alice" || stats.Kwargs["hp"] != int64(10) {
		t.Errorf("inputfunc answer: %+v", oob)
	}
	bob, err := g.Login("bob")
	if err != nil {
		t.Fatal(err)
	}
	bob.Output()
	alice.Command("quit")
	if out := bob.Output(); out != "alice has left." {
		t.Errorf("bob was told %q", out)
	}
	bob.Quit()
	g.Do(func() {
		want := []string{"start with 0 sessions", "login alice as alice", "login bob as bob",
			"disconnect alice: ", "disconnect bob: client went away"}
		if strings.Join(events, "|") != strings.Join(want, "|") {
			t.Errorf("events:\n%q\nwant\n%q", events, want)
		}
	})
}

// TestOptionMistakes: a game's mistakes in its options stop it before it
// starts, each naming what is wrong; so does a start hook's error or panic.
func TestOptionMistakes(t *testing.T) {
	var notStruct int
	settings := struct{ A int }{}
	for _, tc := range []struct {
		name string
		opt  host.Option
		want string
	}{
		{"unknown set", host.WithCommands(commands.NewSet("ingame", &commands.Command{Key: "x", Func: func(*commands.Call) {}})),
			`no command set "ingame"`},
		{"command without Func", host.WithCommand(&commands.Command{Key: "x"}), `command "x" of set "account" needs a key and a Func`},
		{"removing nothing", host.WithoutCommand("lok"), `no command "lok" to remove`},
		{"inputfunc without Func", host.WithInputfunc("x", sessions.Inputfunc{}), `WithInputfunc("x"): no Func`},
		{"settings not a pointer", host.WithGameConfig(settings), "want a pointer to a struct"},
		{"settings of no struct", host.WithGameConfig(&notStruct), "want a pointer to a struct"},
		{"start hook fails", host.OnStart(func(*sessions.ServerSessionHandler) error { return errors.New("no world file") }),
			"start hook 1: no world file"},
		{"start hook panics", host.OnStart(func(*sessions.ServerSessionHandler) error { panic("bad seed") }),
			"start hook 1: panic: bad seed"},
	} {
		g, err := hosttest.Start(tc.opt)
		if err == nil {
			g.Close()
			t.Errorf("%s: started", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	s := struct{ A int }{}
	if _, err := hosttest.Start(host.WithGameConfig(&s), host.WithGameConfig(&s)); err == nil ||
		!strings.Contains(err.Error(), "WithGameConfig given twice") {
		t.Errorf("two settings: %v", err)
	}
}

// TestGameCodePanics: a panic in a command, a hook or the connect screen
// is logged; the host and every other player carry on.
func TestGameCodePanics(t *testing.T) {
	g := hosttest.New(t,
		host.WithCommand(&commands.Command{Key: "boom", Func: func(*commands.Call) { panic("command broke") }}),
		host.OnLogin(func(s *sessions.ServerSession) {
			if s.UName == "bob" {
				panic("login hook broke")
			}
		}),
	)
	alice, err := g.Login("alice")
	if err != nil {
		t.Fatal(err)
	}
	alice.Command("boom")
	if _, err := g.Login("bob"); err != nil {
		t.Fatal(err)
	}
	if out := alice.Command("say still here"); out != `You say, "still here"` {
		t.Errorf("after the panics: %q", out)
	}
	for _, want := range []string{"command broke", "login hook broke"} {
		if !strings.Contains(g.Logs(), want) {
			t.Errorf("%q not logged", want)
		}
	}
}

// TestGameCodeOwnsState is the guarantee of the package doc: game code —
// a command, an inputfunc, the login and disconnect hooks, a timer — keeps
// its state in a plain map, with no lock, while many players on many
// goroutines drive it at once. The race detector (go test -race) fails the
// test if any two of them ever ran at the same time; the counts show none
// was lost.
func TestGameCodeOwnsState(t *testing.T) {
	const players, rounds = 16, 25
	counts := map[string]int{} // the game state: no lock
	var ticker *sessions.Timer
	tickerRan := make(chan struct{}, 1)
	g := hosttest.New(t,
		host.OnStart(func(h *sessions.ServerSessionHandler) error {
			ticker = h.Every(time.Millisecond, func() {
				counts["tick"]++
				select {
				case tickerRan <- struct{}{}:
				default:
				}
			})
			return nil
		}),
		host.WithCommand(&commands.Command{Key: "bump", Func: func(c *commands.Call) {
			counts[c.S.UName]++
			counts["total"]++
			c.Msg(fmt.Sprint(counts[c.S.UName]))
		}}),
		host.WithInputfunc("bump_oob", sessions.Inputfunc{Func: func(_ *sessions.ServerSessionHandler, s *sessions.ServerSession, _ []any, _ map[string]any) {
			counts["oob"]++
		}}),
		host.OnLogin(func(s *sessions.ServerSession) { counts["logins"]++ }),
		host.OnDisconnect(func(s *sessions.ServerSession, _ string) { counts["quits"]++ }),
	)
	var wg sync.WaitGroup
	errs := make(chan error, players)
	for i := range players {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := g.Login(fmt.Sprintf("player%d", i))
			if err != nil {
				errs <- err
				return
			}
			p.Output()
			for r := 1; r <= rounds; r++ {
				if out := p.Command("bump"); out != fmt.Sprint(r) {
					errs <- fmt.Errorf("player%d round %d: %q", i, r, out)
					return
				}
				p.Input(contract.Message{Name: "bump_oob"})
			}
			p.Quit()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case <-tickerRan:
	case <-time.After(10 * time.Second):
		t.Fatal("the timer never ran")
	}
	g.Do(func() {
		ticker.Stop()
		for k, want := range map[string]int{"total": players * rounds, "oob": players * rounds, "logins": players, "quits": players} {
			if counts[k] != want {
				t.Errorf("%s = %d, want %d", k, counts[k], want)
			}
		}
	})
}

// TestGameSettings: the game: block is decoded into the registered struct
// before the game is built (absent keys keep its defaults), and a mistake
// in it stops Run before anything starts, naming the key.
func TestGameSettings(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	write := func(body string) *config.Config {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	type settings struct {
		StartRoom int    `mapstructure:"start_room"`
		Welcome   string `mapstructure:"welcome"`
	}
	s := settings{StartRoom: 1, Welcome: "Hello"}
	cfg := write("server:\n  data_dir: data\ngame:\n  start_room: 4\n")
	st, err := store.Open(filepath.Join(dir, "portico.db"), store.Options{Argon2: store.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g, err := host.NewGame(context.Background(), cfg, st, slog.New(slog.DiscardHandler), host.WithGameConfig(&s))
	if err != nil {
		t.Fatal(err)
	}
	if s.StartRoom != 4 || s.Welcome != "Hello" {
		t.Errorf("settings %+v", s)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}

	bad := write("server:\n  data_dir: data\ngame:\n  start_rom: 4\n")
	err = host.Run(context.Background(), bad, os.Stderr, host.WithGameConfig(&s))
	if err == nil || !strings.HasSuffix(err.Error(), `config.yaml:4: game.start_rom: unknown key (did you mean "start_room"?)`) {
		t.Errorf("Run = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Run made its data directory before it refused the config: %v", err)
	}
	err = host.Run(context.Background(), write("game:\n  start_room: 4\n"), os.Stderr)
	if err == nil || !strings.Contains(err.Error(), "game: this game takes no settings") {
		t.Errorf("Run of a game without settings = %v", err)
	}
}

// TestAttrsReachGameCode: the attribute store a command reaches through
// the handler is the game's, and what it sets is written by Close.
func TestAttrsReachGameCode(t *testing.T) {
	g := hosttest.New(t, host.WithCommand(&commands.Command{Key: "remember", Func: func(c *commands.Call) {
		if err := c.H.Attrs().Set(attrs.Character(c.S.Puppet.ID), "note", c.Args); err != nil {
			c.Msg(err.Error())
			return
		}
		var note string
		_, _ = c.H.Attrs().Get(attrs.Character(c.S.Puppet.ID), "note", &note)
		c.Msg("Noted: " + note)
	}}))
	alice, err := g.Login("alice")
	if err != nil {
		t.Fatal(err)
	}
	alice.Output()
	if out := alice.Command("remember the blue door"); out != "Noted: the blue door" {
		t.Fatalf("remember: %q", out)
	}
	var puid int64
	g.Do(func() { puid = g.Handler().SessionFromSessid(alice.Sessid).PUID })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Handler().Attrs().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := g.Store().Attributes(ctx, attrs.KindCharacter, puid)
	if err != nil || rows["note"] != `"the blue door"` {
		t.Errorf("in the database: %v, %v", rows, err)
	}
}
