package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/portico-mud/portico/core/attrs"
	"github.com/portico-mud/portico/core/channels"
	"github.com/portico-mud/portico/core/commands"
	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
)

// Option is one part of a game handed to the host: a command, an
// inputfunc, a hook, its settings. Options apply in the order given, after
// the defaults: a later one replaces what an earlier one (or a default)
// set under the same name.
type Option func(*options)

// options collects what a game's Options give.
type options struct {
	// commandChanges are applied to the default command sets in order.
	commandChanges []func(ch *commands.Handler) error
	inputfuncs     []namedInputfunc
	onStart        []func(h *sessions.ServerSessionHandler) error
	onLogin        []func(s *sessions.ServerSession)
	onDisconnect   []func(s *sessions.ServerSession, reason string)
	connectScreen  func(s *sessions.ServerSession) string
	// settings is the game's settings struct (a pointer) and defaults a
	// copy of what it held when registered.
	settings any
	defaults reflect.Value
	errs     []error
}

type namedInputfunc struct {
	name string
	f    sessions.Inputfunc
}

func newOptions(opts []Option) *options {
	o := &options{}
	for _, opt := range opts {
		if opt != nil {
			opt(o)
		}
	}
	return o
}

func (o *options) fail(format string, args ...any) {
	o.errs = append(o.errs, fmt.Errorf("host: "+format, args...))
}

// WithCommand adds cmd to the command set of logged-in sessions, replacing
// the command with the same key (a default one too: `look`, `say` ...).
func WithCommand(cmd *commands.Command) Option {
	return WithCommands(commands.NewSet(sessions.CmdsetAccount, cmd))
}

// WithCommands adds every command of set to the default set named
// set.Name — sessions.CmdsetAccount ("account", logged in) or
// sessions.CmdsetUnloggedIn ("unloggedin", before login) — replacing those
// with the same keys.
func WithCommands(set *commands.Set) Option {
	return func(o *options) {
		if set == nil {
			o.fail("WithCommands: no set")
			return
		}
		for _, c := range set.Commands() {
			if c.Key == "" || c.Func == nil {
				o.fail("WithCommands: command %q of set %q needs a key and a Func", c.Key, set.Name)
				return
			}
		}
		o.commandChanges = append(o.commandChanges, func(ch *commands.Handler) error {
			var target *commands.Set
			switch set.Name {
			case sessions.CmdsetAccount:
				target = ch.Account
			case sessions.CmdsetUnloggedIn:
				target = ch.UnloggedIn
			default:
				return fmt.Errorf("host: WithCommands: no command set %q (want %q or %q)", set.Name,
					sessions.CmdsetAccount, sessions.CmdsetUnloggedIn)
			}
			for _, c := range set.Commands() {
				target.Add(c)
			}
			return nil
		})
	}
}

// WithoutCommand removes the command with key from both default sets
// (before and after login), wherever it is. Removing a command that is in
// neither is an error: the key is probably misspelt. To remove a command
// from one set only, replace it there with WithCommands.
func WithoutCommand(key string) Option {
	return func(o *options) {
		o.commandChanges = append(o.commandChanges, func(ch *commands.Handler) error {
			a, u := ch.Account.Remove(key), ch.UnloggedIn.Remove(key)
			if !a && !u {
				return fmt.Errorf("host: WithoutCommand: no command %q to remove", key)
			}
			return nil
		})
	}
}

// WithInputfunc adds or replaces the inputfunc name: what runs for input of
// that name from a client (a GMCP package, a webclient message; "text" is
// a typed line). Names are matched trimmed and lower-cased.
func WithInputfunc(name string, f sessions.Inputfunc) Option {
	return func(o *options) {
		if f.Func == nil {
			o.fail("WithInputfunc(%q): no Func", name)
			return
		}
		o.inputfuncs = append(o.inputfuncs, namedInputfunc{name: name, f: f})
	}
}

// OnStart adds a function run on the loop each time the host image starts
// (a start, and again after every reload), before any session arrives:
// the place to load or seed the world and start timers. An error stops the
// host from starting.
func OnStart(f func(h *sessions.ServerSessionHandler) error) Option {
	return func(o *options) { o.onStart = append(o.onStart, f) }
}

// OnLogin adds a function run after every login (once the login is saved
// and the session's account and puppet are set), before the player's
// first look. A session restored by a reload does not log in again.
func OnLogin(f func(s *sessions.ServerSession)) Option {
	return func(o *options) { o.onLogin = append(o.onLogin, f) }
}

// OnDisconnect adds a function run whenever a session ends (quit, a
// dropped connection, idle, a duplicate login, its plugin gone), after it
// left the handler: others are still there to be told. A reload ends no
// session.
func OnDisconnect(f func(s *sessions.ServerSession, reason string)) Option {
	return func(o *options) { o.onDisconnect = append(o.onDisconnect, f) }
}

// WithConnectScreen replaces the connection screen, shown on connect and
// by look before login.
func WithConnectScreen(f func(s *sessions.ServerSession) string) Option {
	return func(o *options) { o.connectScreen = f }
}

// WithGameConfig registers the game's settings: settings is a pointer to
// a struct, whose values when registered are the defaults. The game: block
// of config.yaml is decoded into it strictly before the game starts (see
// config.DecodeGame: an unknown key is an error naming it, and a Validate
// method runs), and `portico config check` shows it. Without it, a game:
// block with keys is an error.
func WithGameConfig(settings any) Option {
	return func(o *options) {
		rv := reflect.ValueOf(settings)
		if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
			o.fail("WithGameConfig: want a pointer to a struct, got %T", settings)
			return
		}
		if o.settings != nil {
			o.fail("WithGameConfig given twice")
			return
		}
		o.settings = settings
		o.defaults = reflect.New(rv.Elem().Type()).Elem()
		o.defaults.Set(rv.Elem())
	}
}

// err returns the options' own mistakes.
func (o *options) err() error { return errors.Join(o.errs...) }

// decodeSettings decodes cfg's game block into the game's settings, from
// their registered defaults.
func (o *options) decodeSettings(cfg *config.Config) error {
	if o.settings == nil {
		return config.DecodeGame(cfg, nil)
	}
	fresh := reflect.New(o.defaults.Type())
	fresh.Elem().Set(o.defaults)
	if err := config.DecodeGame(cfg, fresh.Interface()); err != nil {
		return err
	}
	reflect.ValueOf(o.settings).Elem().Set(fresh.Elem())
	return nil
}

// Game is the game side of a host, assembled from a game's Options: the
// session handler with its inputfuncs and hooks, the command handler with
// the game's commands, the channels and the attribute store. Run makes one
// and adds the plugins and the control socket around it; package
// core/host/hosttest makes one to test a game without any.
type Game struct {
	handler  *sessions.ServerSessionHandler
	commands *commands.Handler
	channels *channels.Service
	attrs    *attrs.Store
	opts     *options
}

// NewGame assembles the game side of a host on the open store st: it
// decodes cfg's game block into the game's settings, then builds the
// handler, the default commands, the channels and the attribute store, and
// applies opts. The handler's loop is not started (see Handler and Start);
// it reaches no plugin until it is given its Portals.
func NewGame(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger, opts ...Option) (*Game, error) {
	o := newOptions(opts)
	if err := o.err(); err != nil {
		return nil, err
	}
	if err := o.decodeSettings(cfg); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	g := &Game{opts: o, attrs: attrs.New(st, log)}
	g.handler = sessions.NewServerSessionHandler(sessions.Options{Log: log, Store: st, Settings: Settings(cfg), Attrs: g.attrs})
	g.commands = commands.NewHandler(g.handler)
	g.handler.SetCommands(g.commands)
	g.channels = channels.New(st, g.handler)
	if err := g.channels.Load(ctx); err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	g.commands.SetChannels(g.channels)
	g.handler.SetTrustLogin(g.channels.TrustLogin)
	if err := g.handler.LoadBans(ctx); err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	// Throttle counters survive reloads and restarts: the handler saves
	// them as they change and when it stops.
	if err := g.handler.LoadThrottles(ctx); err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	for _, change := range o.commandChanges {
		if err := change(g.commands); err != nil {
			return nil, err
		}
	}
	for _, in := range o.inputfuncs {
		g.handler.RegisterInputfunc(in.name, in.f)
	}
	if o.connectScreen != nil {
		screen := o.connectScreen
		g.commands.ConnectScreen = func(s *sessions.ServerSession) string {
			var out string
			g.handler.Guard("connect screen", func() { out = screen(s) })
			return out
		}
	}
	h := g.handler
	h.SetLoginHook(func(s *sessions.ServerSession) {
		g.channels.AccountLoggedIn(s)
		for _, f := range o.onLogin {
			h.Guard("login hook", func() { f(s) })
		}
	})
	if len(o.onDisconnect) > 0 {
		h.SetDisconnectHook(func(s *sessions.ServerSession, reason string) {
			for _, f := range o.onDisconnect {
				h.Guard("disconnect hook", func() { f(s, reason) })
			}
		})
	}
	return g, nil
}

// Handler returns the game's session handler. Its loop (Run) must run for
// the game to run.
func (g *Game) Handler() *sessions.ServerSessionHandler { return g.handler }

// Attrs returns the game's attribute store.
func (g *Game) Attrs() *attrs.Store { return g.attrs }

// Start runs the game's start hooks (OnStart) on the loop, which must be
// running, in order; the first error (or panic) stops it.
func (g *Game) Start(ctx context.Context) error {
	for i, f := range g.opts.onStart {
		var err error
		if cerr := g.handler.Call(ctx, func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			err = f(g.handler)
		}); cerr != nil {
			return fmt.Errorf("host: start hook %d: %w", i+1, cerr)
		}
		if err != nil {
			return fmt.Errorf("host: start hook %d: %w", i+1, err)
		}
	}
	return nil
}

// Close writes what the attribute store still holds. Call it once the
// loop has stopped, before the store is closed.
func (g *Game) Close() error { return g.attrs.Close() }

// checkGame reports the mistakes of a game's options and of its game:
// block in cfg, before anything starts.
func checkGame(cfg *config.Config, opts []Option) error {
	o := newOptions(opts)
	if err := o.err(); err != nil {
		return err
	}
	return o.decodeSettings(cfg)
}
