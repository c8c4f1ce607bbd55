package sessions

// The handler itself: its state, what it depends on (Portals, Lifecycle,
// CommandHandler, Settings) and how it is built and configured.

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/portico-mud/portico/core/attrs"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/freemem"
)

// Evennia's messages, kept word for word.
const (
	ReasonDuplicate     = "Logged in from elsewhere. Disconnecting."
	ReasonDisconnectAll = "You have been disconnected."
	ReasonIdle          = "idle timeout exceeded"
	MsgServerRestarted  = " ... Server restarted."
	MsgBadEncoding      = "Your client sent an incorrect UTF-8 sequence."
)

// Portals is how the handler reaches the plugins (the plugin manager).
type Portals interface {
	// Send queues an event for the named plugin's link. It encodes ev
	// before it returns: the handler may change what ev refers to after.
	Send(plugin string, ev Event)
	// PluginFor names the running plugin that serves protocol (a plugin
	// name or a protocol key).
	PluginFor(protocol string) (plugin string, ok bool)
	// StartBot launches a bot session on the named plugin and returns the
	// bot's session id.
	StartBot(ctx context.Context, plugin string, config map[string]any) (uint64, error)
}

// Lifecycle is how the handler asks the host to reload, reset or stop.
type Lifecycle interface {
	Reload(reason string) error
	Reset(reason string) error
	Shutdown(reason string) error
}

// CommandHandler runs a line of text as a command (the command parser).
type CommandHandler interface {
	Execute(s *ServerSession, line string)
}

// Settings are the host settings the handler uses; they may change live.
type Settings struct {
	ServerName       string
	MultisessionMode int
	IdleTimeout      time.Duration
	// Limits are config.yaml's limits block; the host enforces the
	// command rate, the login and creation throttles and the password
	// length (the plugins the others).
	Limits contract.Limits
	// WhoBeforeLogin lets `who` list the online accounts before login.
	WhoBeforeLogin bool
}

// ServerSessionHandler keeps every ServerSession of the host, whatever its
// protocol (Evennia's ServerSessionHandler).
type ServerSessionHandler struct {
	log       *slog.Logger
	store     *store.Store
	portals   Portals
	commands  CommandHandler
	lifecycle Lifecycle
	settings  Settings
	now       func() time.Time

	sessions   map[uint64]*ServerSession
	inputfuncs map[string]Inputfunc
	throttles  throttle
	// meter counts for the host's metrics (SetMeter); nil counts nothing.
	meter Meter
	// exempt is limits.exempt parsed, from exemptOf (see exemptAddress).
	exempt     contract.AddressList
	exemptOf   contract.Addresses
	bans       []store.Ban
	trustLogin func(plugin string, uid int64) bool
	loginHook  func(s *ServerSession)
	// disconnectHook and attrs are the game's (game.go).
	disconnectHook func(s *ServerSession, reason string)
	attrs          *attrs.Store
	// bots are the bot sessions being started (see botStarts).
	bots botStarts
	// logins is the ordered writer of the session login rows.
	logins loginWriter

	// monitorables are the values clients may get and watch (monitors.go).
	monitorables map[string]Monitorable

	jobs chan func()
	// own is the game's ownership: every goroutine that touches handler
	// state holds it, the loop for each piece of work and a link reader
	// for each batch of input it runs (Exec). ended is set under it when
	// Run has stopped: Exec then refuses.
	own   sync.Mutex
	ended bool
	// inflight counts the async work not yet handed back to the loop: the
	// hashing pool's jobs, running or queued, and the login writer.
	// Delayed logins are not counted: they hold no worker, and a reload
	// does not wait for them (their sessions come back logged out).
	inflight *inflight
	// stopping is closed when Run's context ends: timers then stop
	// posting to the loop.
	stopping chan struct{}
	// The hashing pool (Async): asyncRunning operations run, at most
	// hashWorkers; asyncQueue waits for a worker, at most hashQueueMax,
	// at most hashQueuePerAddress of them from one client network.
	// asyncStopped is set by a reload or a stop (StopAsync): the queue is
	// dropped and nothing more is taken. All are the loop's.
	asyncRunning int
	asyncQueue   hashQueue
	asyncStopped bool
	// afterFunc is time.AfterFunc; tests replace it to run delays at once.
	afterFunc func(d time.Duration, f func()) (stop func() bool)

	// throttleSaving holds the throttle counters being written to the
	// store (nil when none is); the write reports on throttleSaved.
	throttleSaving []store.ThrottleEntry
	throttleSaved  chan error

	// memRelease returns the garbage of a burst of sessions arriving or
	// leaving (their decoding, a reload's rebuild) to the OS once the
	// burst is over; Run closes it.
	memRelease *freemem.Release
}

// Options build a handler.
type Options struct {
	Log       *slog.Logger
	Store     *store.Store
	Portals   Portals
	Commands  CommandHandler
	Lifecycle Lifecycle
	Settings  Settings
	// Attrs is the game's attribute store (Attrs); nil gives none.
	Attrs *attrs.Store
}

// NewServerSessionHandler makes a handler with the default inputfuncs.
func NewServerSessionHandler(o Options) *ServerSessionHandler {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	h := &ServerSessionHandler{
		log: o.Log, store: o.Store, portals: o.Portals, commands: o.Commands, lifecycle: o.Lifecycle,
		settings: o.Settings, now: time.Now, attrs: o.Attrs,
		sessions:      map[uint64]*ServerSession{},
		jobs:          make(chan func(), 4096),
		inflight:      newInflight(),
		stopping:      make(chan struct{}),
		throttleSaved: make(chan error, 1),
		afterFunc: func(d time.Duration, f func()) func() bool {
			return time.AfterFunc(d, f).Stop
		},
		memRelease: freemem.New(),
	}
	h.inputfuncs = DefaultInputfuncs()
	h.monitorables = defaultMonitorables()
	return h
}

// SetCommands sets the command handler (commands need the handler, so one
// of the two is made first).
func (h *ServerSessionHandler) SetCommands(c CommandHandler) { h.commands = c }

// SetLifecycle sets the host hooks for reload, reset and shutdown.
func (h *ServerSessionHandler) SetLifecycle(l Lifecycle) { h.lifecycle = l }

// SetSettings swaps the live settings (config reload).
func (h *ServerSessionHandler) SetSettings(s Settings) { h.settings = s }

// Settings returns the live settings.
func (h *ServerSessionHandler) Settings() Settings { return h.settings }

// Store returns the persistent store.
func (h *ServerSessionHandler) Store() *store.Store { return h.store }

// Now returns the handler's clock.
func (h *ServerSessionHandler) Now() time.Time { return h.now() }

// Context returns the context for store calls made on the loop.
func (h *ServerSessionHandler) Context() context.Context { return context.Background() }

// Log returns the handler's logger.
func (h *ServerSessionHandler) Log() *slog.Logger { return h.log }

// SetTrustLogin sets which accounts a plugin may announce by itself (a
// session that arrives logged in): the host's bots' accounts. Even then the
// claim is accepted only from the plugin asked to start that bot, as the
// session its StartBot named. Without it no such claim is accepted.
func (h *ServerSessionHandler) SetTrustLogin(f func(plugin string, uid int64) bool) { h.trustLogin = f }

// SetLoginHook sets a function run after every login, before the player
// looks around (the channels service loads the account's channels).
func (h *ServerSessionHandler) SetLoginHook(f func(s *ServerSession)) { h.loginHook = f }

// SetPortals sets how the handler reaches the plugins.
func (h *ServerSessionHandler) SetPortals(p Portals) { h.portals = p }
