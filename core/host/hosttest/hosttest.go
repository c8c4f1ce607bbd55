// Package hosttest runs a game in-process, for the game's tests: the game
// side of a host (host.NewGame) built from the game's options, a store in
// a fresh temporary directory, the session handler's loop running, and
// players that stand for client sessions. No plugin runs and nothing
// listens: a player's input goes to the handler as a plugin's would, and
// what the host sends the player is kept for the test to read.
//
// Every call that sends input (Command, Input, Connect, Login) returns
// once the host has handled it, password checks and login writes
// included, so a test reads the answer at once, without waiting or
// polling. Players may be driven from many goroutines at once.
package hosttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// Plugin is the plugin name the players' sessions come through.
const Plugin = "hosttest"

// ServerName is the server's name in the games hosttest runs.
const ServerName = "Testgame"

// Game is a game running in-process. Make it with New or Start.
type Game struct {
	game    *host.Game
	h       *sessions.ServerSessionHandler
	st      *store.Store
	dir     string
	log     *plugintest.LockedBuffer
	stop    context.CancelFunc
	done    chan struct{}
	nextID  atomic.Uint64
	mu      sync.Mutex
	players map[uint64]*Player
	closed  sync.Once
}

// Start runs the game that opts make, with config.Default()'s settings
// (cheap password hashing aside) and no game: block: the game's settings
// keep the defaults it registered. Close it when done.
func Start(opts ...host.Option) (*Game, error) {
	dir, err := os.MkdirTemp("", "hosttest")
	if err != nil {
		return nil, fmt.Errorf("hosttest: %w", err)
	}
	cfg := config.Default()
	cfg.Server.Name = ServerName
	cfg.Server.DataDir = dir
	st, err := store.Open(cfg.DBPath(), store.Options{Argon2: store.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("hosttest: %w", err)
	}
	g := &Game{st: st, dir: dir, log: &plugintest.LockedBuffer{}, done: make(chan struct{}), players: map[uint64]*Player{}}
	log := slog.New(slog.NewTextHandler(g.log, nil))
	g.game, err = host.NewGame(context.Background(), &cfg, st, log, opts...)
	if err != nil {
		st.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	g.h = g.game.Handler()
	g.h.SetPortals(portals{g})
	ctx, stop := context.WithCancel(context.Background())
	g.stop = stop
	go func() { defer close(g.done); g.h.Run(ctx) }()
	sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := g.game.Start(sctx); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// New is Start for a test: it fails tb when the game does not start, and
// closes the game when the test ends, showing the host's log if it
// failed.
func New(tb testing.TB, opts ...host.Option) *Game {
	tb.Helper()
	g, err := Start(opts...)
	if err != nil {
		tb.Fatalf("hosttest: the game did not start: %v", err)
	}
	tb.Cleanup(func() {
		if err := g.Close(); err != nil {
			tb.Errorf("hosttest: close: %v", err)
		}
		if tb.Failed() {
			tb.Logf("host log:\n%s", g.Logs())
		}
	})
	return g
}

// Close stops the game: the loop, then the attribute store's writes, then
// the store; the temporary directory is removed. A second Close does
// nothing.
func (g *Game) Close() error {
	var err error
	g.closed.Do(func() {
		g.stop()
		<-g.done
		err = errors.Join(g.game.Close(), g.st.Close(), os.RemoveAll(g.dir))
	})
	return err
}

// Handler returns the game's session handler. Touch what it owns only
// through Do.
func (g *Game) Handler() *sessions.ServerSessionHandler { return g.h }

// Store returns the game's store (accounts, characters ...).
func (g *Game) Store() *store.Store { return g.st }

// Logs returns what the host logged so far.
func (g *Game) Logs() string { return g.log.String() }

// Do runs f as game code (on the loop) and waits for it: the way for a
// test to look at, or change, the game's state.
func (g *Game) Do(f func()) {
	if err := g.h.Call(context.Background(), f); err != nil {
		panic(fmt.Sprintf("hosttest: Do: %v", err))
	}
}

// settle waits until the host has handled everything sent so far: what
// is queued for the loop, and the async work it started (password checks,
// login writes) with their continuations.
func (g *Game) settle() {
	g.Do(func() {})
	g.h.WaitAsync()
}

// Connect opens a new session, as a client connecting does; the player
// has the connection screen to read.
func (g *Game) Connect() *Player {
	id := g.nextID.Add(1)
	p := &Player{g: g, Sessid: id}
	g.mu.Lock()
	g.players[id] = p
	g.mu.Unlock()
	var d contract.SessionData
	d.InitSession("hosttest", fmt.Sprintf("127.0.0.1:%d", 40000+id%20000), time.Now())
	d.Sessid = id
	g.h.Do(func() { g.h.PortalConnect(Plugin, d) })
	g.settle()
	return p
}

// Login connects a session and logs it in to a new account called name
// (with its character of the same name), as `create` and `connect` would,
// without the typing. The player has the login's output to read.
func (g *Game) Login(name string) (*Player, error) {
	if _, err := g.CreateAccount(name, false); err != nil {
		return nil, err
	}
	return g.LoginAccount(name)
}

// CreateAccount makes an account called name, with its character of the
// same name; admin makes it an admin, as `portico account create --admin`
// does.
func (g *Game) CreateAccount(name string, admin bool) (store.Account, error) {
	pw := make([]byte, 12)
	_, _ = rand.Read(pw)
	acc, err := g.st.CreateAccount(context.Background(), name, hex.EncodeToString(pw), admin)
	if err != nil {
		return store.Account{}, fmt.Errorf("hosttest: %w", err)
	}
	return acc, nil
}

// LoginAccount connects a new session and logs it in to the existing
// account called name: another session of the account, or the player
// coming back after a quit. The player has the login's output to read.
func (g *Game) LoginAccount(name string) (*Player, error) {
	acc, err := g.st.AccountByName(context.Background(), name)
	if err != nil {
		return nil, fmt.Errorf("hosttest: %w", err)
	}
	p := g.Connect()
	p.Output()
	g.h.Do(func() {
		if s := g.h.SessionFromSessid(p.Sessid); s != nil {
			g.h.Login(s, acc, true)
		}
	})
	g.settle()
	var in bool
	g.Do(func() {
		s := g.h.SessionFromSessid(p.Sessid)
		in = s != nil && s.LoggedIn
	})
	if !in {
		return nil, fmt.Errorf("hosttest: %s did not log in: %s", name, p.Output())
	}
	return p, nil
}

// Player is one client session.
type Player struct {
	// Sessid is the session's id.
	Sessid uint64

	g      *Game
	mu     sync.Mutex
	texts  []string
	oob    []contract.Message
	gone   bool
	reason string
}

// Command types line, waits until the host has handled it, and returns the
// text the player has been sent since it last read (Output).
func (p *Player) Command(line string) string {
	p.Input(contract.Text(line))
	return p.Output()
}

// Input sends messages (an inputfunc call: text, or an OOB message such as
// a GMCP one) and waits until the host has handled them.
func (p *Player) Input(msgs ...contract.Message) {
	p.g.h.Do(func() { p.g.h.DataIn(Plugin, p.Sessid, msgs) })
	p.g.settle()
}

// Output returns the text the player has been sent since it last read,
// one message per line, and forgets it.
func (p *Player) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := strings.Join(p.texts, "\n")
	p.texts = nil
	return out
}

// OOB returns the messages other than text the player has been sent since
// it last read them (GMCP and the like), and forgets them.
func (p *Player) OOB() []contract.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.oob
	p.oob = nil
	return out
}

// Quit drops the connection, as a client going away does, and waits until
// the host has handled it.
func (p *Player) Quit() {
	p.g.h.Do(func() { p.g.h.PortalDisconnect(Plugin, p.Sessid, "client went away") })
	p.g.settle()
}

// Disconnected reports whether the host ended the session, and the reason
// it gave.
func (p *Player) Disconnected() (bool, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gone, p.reason
}

func (p *Player) receive(msgs []contract.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range msgs {
		if s, ok := m.FirstString(); ok && m.Name == "text" {
			p.texts = append(p.texts, s)
			continue
		}
		p.oob = append(p.oob, overTheLink(m))
	}
}

// overTheLink returns m as a plugin receives it: a copy, through JSON (an
// int arrives as an int64), so that the handler may change what m refers
// to after sending it. A message that does not encode keeps its name only.
func overTheLink(m contract.Message) contract.Message {
	out := contract.Message{Name: m.Name}
	if b, err := json.Marshal(m.Args); err == nil && len(m.Args) > 0 {
		if v, err := contract.DecodeJSON(b); err == nil {
			out.Args, _ = v.([]any)
		}
	}
	if b, err := json.Marshal(m.Kwargs); err == nil && len(m.Kwargs) > 0 {
		if v, err := contract.DecodeJSON(b); err == nil {
			out.Kwargs, _ = v.(map[string]any)
		}
	}
	return out
}

// portals is the players' side of the host's sessions.Portals.
type portals struct{ g *Game }

var _ sessions.Portals = portals{}

func (p portals) player(id uint64) *Player {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	return p.g.players[id]
}

// Send delivers an event to the players it names. It copies what it
// keeps: the handler may change what an event refers to afterwards.
func (p portals) Send(_ string, ev sessions.Event) {
	switch e := ev.(type) {
	case sessions.DataOut:
		for _, id := range e.Sessids {
			if pl := p.player(id); pl != nil {
				pl.receive(e.Messages)
			}
		}
	case sessions.Disconnect:
		if pl := p.player(e.Sessid); pl != nil {
			pl.mu.Lock()
			pl.gone, pl.reason = true, e.Reason
			pl.mu.Unlock()
		}
	case sessions.DisconnectAll:
		p.g.mu.Lock()
		all := make([]*Player, 0, len(p.g.players))
		for _, pl := range p.g.players {
			all = append(all, pl)
		}
		p.g.mu.Unlock()
		for _, pl := range all {
			pl.mu.Lock()
			pl.gone, pl.reason = true, e.Reason
			pl.mu.Unlock()
		}
	}
}

// PluginFor serves no protocol: there are no plugins to start bots on.
func (portals) PluginFor(string) (string, bool) { return "", false }

// StartBot fails: there are no plugins.
func (portals) StartBot(context.Context, string, map[string]any) (uint64, error) {
	return 0, errors.New("hosttest: no plugins to start a bot on")
}
