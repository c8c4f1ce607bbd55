// Package sessions is the host's session layer: ServerSession and
// ServerSessionHandler with Evennia's semantics, and the inputfuncs.
//
// All game state is owned by one loop goroutine (Run): plugin links, the
// control socket and timers hand it work with Do or Call, so that nothing
// here needs a lock and every handler method runs in order, as Evennia's
// reactor does. Slow work (password hashing) runs off the loop with Async
// and comes back to it. The package never touches a client socket.
package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/portico-mud/portico/core/attrs"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
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

	jobs chan func()
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
	}
	h.inputfuncs = DefaultInputfuncs()
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

// RegisterInputfunc adds or replaces an inputfunc (later ones override
// earlier ones, as Evennia's INPUT_FUNC_MODULES).
func (h *ServerSessionHandler) RegisterInputfunc(name string, f Inputfunc) {
	h.inputfuncs[normaliseInputfuncName(name)] = f
}

// ---- portal side (events from plugins) ----

// PortalConnect creates a session for a new connection (PCONN). A session
// may come logged in only as a bot the host asked this plugin to start, as
// the session its StartBot named: it is logged in at once. Any other claim
// would let a plugin act as any player, admins included: it is refused
// (logged), and the session gets the connection screen like the others.
func (h *ServerSessionHandler) PortalConnect(plugin string, d contract.SessionData) {
	s := h.connectSession(plugin, d)
	if s == nil {
		return
	}
	claim := loginView{loggedIn: s.LoggedIn, uid: s.UID, uname: s.UName, puid: s.PUID}
	s.LoggedIn, s.UID, s.UName, s.PUID = false, 0, "", 0
	if claim.claims() {
		reason := h.checkBotClaim(plugin, s.Sessid, claim.uid)
		if reason == "" {
			acc, err := h.store.AccountByID(context.Background(), claim.uid)
			if err == nil {
				s.AtSync()
				h.Login(s, acc, true)
				return
			}
			reason = fmt.Sprintf("account not found: %v", err)
		}
		h.refuseClaim(s, claim, reason)
	}
	s.AtSync()
	h.runLookAtLoginStart(s)
}

// Credentials are what a client gave while connecting (an SSH login).
type Credentials struct {
	Name      string
	Password  string
	PublicKey []byte
	// KeyTrusted is set when the plugin is one the operator trusts to have
	// checked that the client holds PublicKey (plugins.<name>.
	// trust_key_logins). The host sees only the public key, which is no
	// secret: from any other plugin a key proves nothing and is refused.
	KeyTrusted bool
}

// PortalConnectWithCredentials creates a session for a connection that
// came with credentials (SSH): right ones log it in at once, with no
// connection screen; wrong ones get Evennia's message and the normal login
// screen. The check runs off the loop, like every password check.
func (h *ServerSessionHandler) PortalConnectWithCredentials(plugin string, d contract.SessionData, c Credentials) {
	s := h.connectSession(plugin, d)
	if s == nil {
		return
	}
	// Only the credentials decide who the session is.
	s.LoggedIn, s.UID, s.UName, s.PUID = false, 0, "", 0
	s.AtSync()
	name := strings.TrimSpace(c.Name)
	if len(c.PublicKey) > 0 && !c.KeyTrusted {
		h.log.Warn("refused login claim", "plugin", plugin, "sessid", s.Sessid, "name", name,
			"reason", fmt.Sprintf("a key login from a plugin not trusted with them (plugins.%s.trust_key_logins)", plugin))
		h.runLookAtLoginStart(s)
		return
	}
	check := func() {
		if len(c.PublicKey) == 0 && h.Throttled(ThrottleLogin, s, name) {
			h.log.Warn("login throttled", "name", name, "address", s.Address)
			s.Msg(MsgLoginThrottled)
			h.runLookAtLoginStart(s)
			return
		}
		if !h.Async(s, func() func() {
			var acc store.Account
			var err error
			ctx := context.Background()
			if len(c.PublicKey) > 0 {
				acc, err = h.store.AuthenticateKey(ctx, name, c.PublicKey)
			} else {
				acc, err = h.store.Authenticate(ctx, name, c.Password)
			}
			return func() {
				if h.sessions[s.Sessid] != s || s.LoggedIn {
					return
				}
				if err == nil {
					if len(c.PublicKey) == 0 {
						h.loginSucceeded(s, name)
					}
					h.Login(s, acc, true)
					return
				}
				if !errors.Is(err, store.ErrBadCredentials) {
					h.log.Error("connect: authenticate", "name", name, "err", err)
				}
				if len(c.PublicKey) == 0 && c.Password != "" {
					h.log.Info("login failed", "name", name, "address", s.Address)
					h.ThrottleHit(ThrottleLogin, s, name)
					s.Msg(MsgBadLogin)
				}
				h.runLookAtLoginStart(s)
			}
		}) {
			h.runLookAtLoginStart(s)
		}
	}
	if len(c.PublicKey) > 0 {
		check() // a key proves itself; no password is guessed
		return
	}
	h.delayLogin(s, name, check)
}

// connectSession makes and stores the session of a Connect, or returns nil
// when the session exists already (a link replayed after a host reattach),
// which is then a sync with the same rules: only its own plugin may send it
// and it cannot change the login. A session that arrived during a reload
// and was never greeted gets its connection screen then.
func (h *ServerSessionHandler) connectSession(plugin string, d contract.SessionData) *ServerSession {
	if old, ok := h.sessions[d.Sessid]; ok {
		h.PortalSessionSync(plugin, d, nil)
		if old.Plugin == plugin && !old.LoggedIn && !old.greeted {
			h.runLookAtLoginStart(old)
		}
		return nil
	}
	s := h.newSession(plugin, d)
	h.sessions[s.Sessid] = s
	h.log.Debug("session connected", "sessid", s.Sessid, "plugin", plugin, "address", s.Address)
	if b, banned := h.bannedAddress(s.Address); banned {
		h.log.Info("banned address refused", "address", s.Address, "ban", b.Value)
		s.Msg(MsgBanned)
		h.Disconnect(s, ReasonBanned, true)
		return nil
	}
	return s
}

func (h *ServerSessionHandler) runLookAtLoginStart(s *ServerSession) {
	s.greeted = true
	if h.commands != nil {
		h.commands.Execute(s, "look")
	}
}

func (h *ServerSessionHandler) newSession(plugin string, d contract.SessionData) *ServerSession {
	s := &ServerSession{SessionData: d, Plugin: plugin, handler: h, NDB: map[string]any{}}
	// A plugin that did not set the counters (init_session) must not have
	// its sessions dropped as idle at the next check.
	now := h.now()
	for _, t := range []*time.Time{&s.ConnTime, &s.CmdLast, &s.CmdLastVisible} {
		if t.IsZero() {
			*t = now
		}
	}
	if s.ProtocolFlags == nil {
		s.ProtocolFlags = map[string]any{}
	}
	if s.ServerData == nil {
		s.ServerData = map[string]any{}
	}
	return s
}

// PortalSessionSync loads one session's data from its plugin (PCONNSYNC):
// negotiation results, a window resize. fields names what is carried (all
// when empty); protocol flags are merged.
func (h *ServerSessionHandler) PortalSessionSync(plugin string, d contract.SessionData, fields []string) {
	s := h.sessions[d.Sessid]
	if s == nil || s.Plugin != plugin {
		return
	}
	// The plugin may not change who the session is logged in as.
	uid, logged, uname, puid := s.UID, s.LoggedIn, s.UName, s.PUID
	s.LoadSyncData(d, fields)
	s.UID, s.LoggedIn, s.UName, s.PUID = uid, logged, uname, puid
}

// PortalSessionsSync rebuilds the sessions of a plugin the host (re)attached
// to (PSYNC): one ServerSession per entry, then the restart announcement.
// A session the plugin reports logged in keeps its account and puppet
// (without login hooks) only if they match the login the host saved for
// that session and plugin; any other claim is refused and logged, and the
// session is logged out and shown the connection screen.
func (h *ServerSessionHandler) PortalSessionsSync(plugin string, all []contract.SessionData) {
	// The saved logins of the whole plugin in one query: a reload restores
	// thousands of sessions. The host's own writes for this plugin's
	// sessions cannot be pending: its link has not opened yet.
	ctx := context.Background()
	saved := map[uint64]store.SessionLogin{}
	if h.store == nil {
		h.log.Error("restore sessions: no store; every login claim is refused", "plugin", plugin)
	} else if rows, err := h.store.SessionLogins(ctx, plugin); err != nil {
		h.log.Error("restore sessions: cannot read the saved logins; every login claim is refused", "plugin", plugin, "err", err)
	} else {
		saved = rows
	}
	// Many sessions share accounts: look each account and character up
	// once. Sessions of one account share its record, as sessions logged
	// in live do not; both are read-only copies.
	lookups := &restoreLookups{
		accounts:   lookupCache[store.Account]{load: func(id int64) (store.Account, error) { return h.store.AccountByID(ctx, id) }},
		characters: lookupCache[store.Character]{load: func(id int64) (store.Character, error) { return h.store.CharacterByID(ctx, id) }},
	}
	targets := make([]*ServerSession, 0, len(all))
	var refused []*ServerSession
	for _, d := range all {
		s, ok := h.sessions[d.Sessid]
		switch {
		case !ok:
			s = h.newSession(plugin, d)
			h.sessions[d.Sessid] = s
		case s.Plugin != plugin:
			h.log.Warn("restore sessions: a plugin listed another plugin's session; ignored", "plugin", plugin,
				"sessid", d.Sessid, "owner", s.Plugin)
			continue
		default:
			s.LoadSyncData(d, nil)
		}
		targets = append(targets, s)
		row, hasRow := saved[s.Sessid]
		claim, reason := h.restoreLogin(s, row, hasRow, lookups)
		if reason != "" {
			refused = append(refused, s)
			h.log.Warn("refused login claim", "plugin", plugin, "sessid", s.Sessid, "uid", claim.uid, "puid", claim.puid,
				"uname", claim.uname, "reason", reason)
		}
		if hasRow && !s.LoggedIn {
			h.queueLogin(store.DeleteSessionLogin(s.Sessid), nil)
		}
		s.AtSync()
	}
	// Rows of sessions that ended while the host was away.
	for id := range saved {
		if h.sessions[id] == nil {
			h.queueLogin(store.DeleteSessionLogin(id), nil)
		}
	}
	// One frame per plugin naming its recipients, as every broadcast.
	h.Broadcast(targets, contract.Text(MsgServerRestarted))
	for _, s := range refused {
		// The plugin learns the session is logged out; the player sees
		// what a fresh connection sees.
		h.sendSync(s, loginFields)
		h.runLookAtLoginStart(s)
	}
}

// PortalDisconnect removes a session whose client went away (PDISCONN),
// without telling the plugin, which already knows.
func (h *ServerSessionHandler) PortalDisconnect(plugin string, sessid uint64, reason string) {
	s := h.sessions[sessid]
	if s == nil || s.Plugin != plugin {
		return
	}
	h.Disconnect(s, reason, false)
}

// PortalDisconnectAll removes every session of a plugin (PDISCONNALL): the
// plugin stopped or crashed. Its sessions are gone on its side already, and
// so are their saved logins (one delete for the plugin).
func (h *ServerSessionHandler) PortalDisconnectAll(plugin, reason string) {
	for _, s := range h.sortedSessions() {
		if s.Plugin == plugin {
			s.rowSaved = false
			h.Disconnect(s, reason, false)
		}
	}
	h.bots.forgetPlugin(plugin)
	h.queueLogin(store.DeletePluginLogins(plugin), nil)
}

// StartBotSession launches a bot session: the plugin serving protocol is
// given the config dict and connects the bot, which arrives through
// PortalConnect (SCONN). config["uid"], set by the host, names the bot's
// account: the bot's session may arrive logged in as it, from this plugin,
// as the session StartBot names (see botStarts). It is called off the loop.
func (h *ServerSessionHandler) StartBotSession(ctx context.Context, protocol string, config map[string]any) (uint64, error) {
	if h.portals == nil {
		return 0, errors.New("sessions: start bot: no plugins")
	}
	plugin, ok := h.portals.PluginFor(protocol)
	if !ok {
		return 0, fmt.Errorf("sessions: start bot on %q: no running plugin serves it", protocol)
	}
	// Recorded before asking: the bot's Connect may arrive first.
	uid := botUID(config)
	var start *botStart
	if uid > 0 {
		start = h.bots.begin(plugin, uid)
	}
	id, err := h.portals.StartBot(ctx, plugin, config)
	if start != nil {
		if stray := h.bots.end(start, id, err); stray != 0 {
			want := id
			if err != nil {
				want = 0
			}
			h.Do(func() { h.endStrayBot(plugin, stray, uid, want) })
		}
	}
	if err != nil {
		return 0, fmt.Errorf("sessions: start bot on %q: %w", protocol, err)
	}
	return id, nil
}

// PortalRestartServer asks the host to reload (SRELOAD).
func (h *ServerSessionHandler) PortalRestartServer(reason string) error {
	if h.lifecycle == nil {
		return errors.New("sessions: reload: no host lifecycle")
	}
	return h.lifecycle.Reload(reason)
}

// PortalResetServer asks the host to reset (SRESET).
func (h *ServerSessionHandler) PortalResetServer(reason string) error {
	if h.lifecycle == nil {
		return errors.New("sessions: reset: no host lifecycle")
	}
	return h.lifecycle.Reset(reason)
}

// PortalShutdown asks the host to shut down, plugins and all (PSHUTD).
func (h *ServerSessionHandler) PortalShutdown(reason string) error {
	if h.lifecycle == nil {
		return errors.New("sessions: shutdown: no host lifecycle")
	}
	return h.lifecycle.Shutdown(reason)
}

// ---- server side ----

// Login logs s in as acc (Evennia's login): at_login, the multisession
// rule (mode 0 disconnects the account's other sessions), SLOGIN to the
// plugin, then the account's character is puppeted. force skips nothing
// here yet; it marks logins the server makes itself (SSH keys, bots).
func (h *ServerSessionHandler) Login(s *ServerSession, acc store.Account, force bool) {
	_ = force
	if b, banned := h.bannedAccount(acc.Name); banned {
		h.log.Info("banned account refused", "account", acc.Name, "ban", b.Value)
		s.Msg(MsgBanned)
		h.Disconnect(s, ReasonBanned, true)
		return
	}
	s.AtLogin(acc)
	if h.settings.MultisessionMode == 0 {
		h.DisconnectDuplicateSessions(s, ReasonDuplicate)
	}
	// Auto-puppet the account's character (Evennia's AUTO_PUPPET_ON_LOGIN),
	// unless in mode 2 another of the account's sessions acts it already:
	// then the new session stays OOC and picks one with ic.
	if acc.CharacterID != 0 {
		if ch, err := h.store.CharacterByID(context.Background(), acc.CharacterID); err == nil {
			if h.settings.MultisessionMode != 2 || len(h.SessionsFromPuppet(ch.ID)) == 0 {
				s.Puppet = &ch
				s.PUID = ch.ID
			}
		} else {
			h.log.Warn("login: character not found", "account", acc.Name, "character", acc.CharacterID, "err", err)
		}
	}
	// The plugin is told (SLOGIN), and at_post_login runs, once the login
	// is saved; the session's input waits until then.
	s.busy++
	h.saveLogin(s, func(saved loginView, err error) {
		defer h.release(s)
		if h.sessions[s.Sessid] != s {
			return
		}
		if err != nil {
			h.log.Error("login not saved; disconnecting the session", "account", acc.Name, "sessid", s.Sessid, "err", err)
			h.Disconnect(s, MsgLoginNotSaved, true)
			return
		}
		h.finishLogin(s, acc, saved)
	})
}

// Disconnect ends session s (Evennia's disconnect): it is removed from the
// host and, when syncPortal is set, the plugin is told to close it showing
// reason.
func (h *ServerSessionHandler) Disconnect(s *ServerSession, reason string, syncPortal bool) {
	if h.sessions[s.Sessid] != s {
		return
	}
	for _, t := range s.repeats {
		t.Stop()
	}
	s.repeats = nil
	if s.delayStop != nil {
		s.delayStop()
		s.delayStop = nil
	}
	delete(h.sessions, s.Sessid)
	s.held = nil
	h.forgetLogin(s)
	if s.Account != nil {
		h.log.Info("logout", "account", s.Account.Name, "sessid", s.Sessid, "reason", reason)
	}
	if syncPortal {
		h.portals.Send(s.Plugin, Disconnect{Sessid: s.Sessid, Reason: reason})
	}
	h.runDisconnectHook(s, reason)
}

// AllSessionsPortalSync pushes every session's data to its plugin, dropping
// plugin sessions the host does not know (SSYNC, clean). With fields, only
// those are pushed (all when none are named).
func (h *ServerSessionHandler) AllSessionsPortalSync(fields ...string) {
	byPlugin := map[string][]contract.SessionData{}
	for _, s := range h.sortedSessions() {
		d := s.SessionData
		if len(fields) > 0 && !slices.Contains(fields, contract.FieldProtocolFlags) {
			// Not sent: skip copying and encoding the flags.
			d.ProtocolFlags = nil
		} else {
			d = s.GetSyncData()
		}
		// Only a saved login is ever pushed (see portalData).
		s.told.apply(&d)
		byPlugin[s.Plugin] = append(byPlugin[s.Plugin], d)
	}
	for plugin, list := range byPlugin {
		h.portals.Send(plugin, SyncAll{Sessions: list, Clean: true, Fields: fields})
	}
}

// ReloadSyncFields are the fields a reload pushes to the plugins: what the
// host owns. Protocol flags are left out: the plugins own them, and every
// change the host makes is synced when it is made.
var ReloadSyncFields = []string{contract.FieldUID, contract.FieldUName, contract.FieldLoggedIn,
	contract.FieldPUID, contract.FieldCmdLast, contract.FieldCmdLastVisible, contract.FieldCmdTotal,
	contract.FieldServerData, contract.FieldCmdsetStorageString}

// SessionPortalSync pushes one session's whole data to its plugin (SSYNC).
func (h *ServerSessionHandler) SessionPortalSync(s *ServerSession) {
	h.sendSync(s, nil)
}

// SessionPortalPartialSync pushes the named fields of s to its plugin.
func (h *ServerSessionHandler) SessionPortalPartialSync(s *ServerSession, fields ...string) {
	h.sendSync(s, fields)
}

func (h *ServerSessionHandler) sendSync(s *ServerSession, fields []string) {
	if h.sessions[s.Sessid] != s {
		return
	}
	h.portals.Send(s.Plugin, SessionSync{Session: s.portalData(), Fields: fields})
}

// DisconnectAllSessions ends every session, telling each plugin once
// (SDISCONNALL).
func (h *ServerSessionHandler) DisconnectAllSessions(reason string) {
	if reason == "" {
		reason = ReasonDisconnectAll
	}
	plugins := map[string]bool{}
	for _, s := range h.sortedSessions() {
		plugins[s.Plugin] = true
		h.Disconnect(s, reason, false)
	}
	for p := range plugins {
		h.portals.Send(p, DisconnectAll{Reason: reason})
	}
}

// DisconnectDuplicateSessions ends the other logged-in sessions of s's
// account.
func (h *ServerSessionHandler) DisconnectDuplicateSessions(s *ServerSession, reason string) {
	if reason == "" {
		reason = ReasonDuplicate
	}
	for _, other := range h.SessionsFromAccount(s.UID) {
		if other != s {
			h.Disconnect(other, reason, true)
		}
	}
}

// validateEvery is how often idle sessions are looked for.
const validateEvery = time.Second

// ValidateSessions drops sessions idle longer than the idle timeout (none
// when it is 0). Bots are exempt (Evennia's noidletimeout lock).
func (h *ServerSessionHandler) ValidateSessions() {
	limit := h.settings.IdleTimeout
	if limit <= 0 {
		return
	}
	now := h.now()
	// Warn a while before: a tenth of the timeout, at most a minute, but
	// at least two of the checks' ticks, so that the warning always comes
	// (and never more than halfway).
	warnAt := limit - min(max(min(limit/10, time.Minute), 2*validateEvery), limit/2)
	for _, s := range h.sortedSessions() {
		// Bots and admins are exempt (Evennia's noidletimeout lock).
		if isBot(s) || s.IsAdmin() {
			continue
		}
		idle := now.Sub(s.CmdLast)
		switch {
		case idle > limit:
			h.Disconnect(s, ReasonIdle, true)
		case idle > warnAt && !s.idleWarned:
			s.idleWarned = true
			s.Msg(MsgIdleWarning)
		}
	}
}

func isBot(s *ServerSession) bool {
	b, _ := s.ServerData["bot"].(bool)
	return b
}

// AccountCount returns the number of distinct logged-in accounts.
func (h *ServerSessionHandler) AccountCount() int {
	seen := map[int64]bool{}
	for _, s := range h.sessions {
		if s.LoggedIn {
			seen[s.UID] = true
		}
	}
	return len(seen)
}

// AllConnectedAccounts returns each logged-in account once, by name.
func (h *ServerSessionHandler) AllConnectedAccounts() []store.Account {
	seen := map[int64]bool{}
	var out []store.Account
	for _, s := range h.sortedSessions() {
		if s.LoggedIn && s.Account != nil && !seen[s.UID] {
			seen[s.UID] = true
			out = append(out, *s.Account)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SessionFromSessid returns the session with id, or nil.
func (h *ServerSessionHandler) SessionFromSessid(id uint64) *ServerSession { return h.sessions[id] }

// SessionFromAccount returns account uid's session with id sessid, or nil.
func (h *ServerSessionHandler) SessionFromAccount(uid int64, sessid uint64) *ServerSession {
	if s := h.sessions[sessid]; s != nil && s.LoggedIn && s.UID == uid {
		return s
	}
	return nil
}

// SessionsFromAccount returns the logged-in sessions of account uid, oldest
// first.
func (h *ServerSessionHandler) SessionsFromAccount(uid int64) []*ServerSession {
	var out []*ServerSession
	for _, s := range h.sortedSessions() {
		if s.LoggedIn && s.UID == uid {
			out = append(out, s)
		}
	}
	return out
}

// SessionsFromPuppet returns the sessions puppeting character puid.
func (h *ServerSessionHandler) SessionsFromPuppet(puid int64) []*ServerSession {
	var out []*ServerSession
	for _, s := range h.sortedSessions() {
		if puid != 0 && s.PUID == puid {
			out = append(out, s)
		}
	}
	return out
}

// SessionsFromCsessid returns the sessions with client session id csessid
// (a browser's).
func (h *ServerSessionHandler) SessionsFromCsessid(csessid string) []*ServerSession {
	var out []*ServerSession
	for _, s := range h.sortedSessions() {
		if csessid != "" && s.Csessid == csessid {
			out = append(out, s)
		}
	}
	return out
}

// Sessions returns every session, oldest id first.
func (h *ServerSessionHandler) Sessions() []*ServerSession { return h.sortedSessions() }

// Count returns the number of sessions.
func (h *ServerSessionHandler) Count() int { return len(h.sessions) }

func (h *ServerSessionHandler) sortedSessions() []*ServerSession {
	out := make([]*ServerSession, 0, len(h.sessions))
	for _, s := range h.sessions {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Sessid < out[j].Sessid })
	return out
}

// AnnounceAll sends text to every session: one frame per plugin naming
// its recipients, not one event per session.
func (h *ServerSessionHandler) AnnounceAll(text string) {
	h.Broadcast(h.sortedSessions(), contract.Text(text))
}

// Broadcast sends the same messages to many sessions, as one event per
// plugin.
func (h *ServerSessionHandler) Broadcast(targets []*ServerSession, msgs ...contract.Message) {
	byPlugin := map[string][]uint64{}
	var order []string
	for _, s := range targets {
		if h.sessions[s.Sessid] != s {
			continue
		}
		if _, ok := byPlugin[s.Plugin]; !ok {
			order = append(order, s.Plugin)
		}
		byPlugin[s.Plugin] = append(byPlugin[s.Plugin], s.Sessid)
	}
	for _, p := range order {
		h.portals.Send(p, DataOut{Sessids: byPlugin[p], Messages: msgs})
	}
}

// MsgOutputTooLarge tells a session that output meant for it was dropped:
// the link adapter sends it instead of a DataOut too large for the link
// (one oversized message must not break the link for every session of the
// plugin, Evennia's #1636).
const MsgOutputTooLarge = "(The server tried to send you more at once than it may; that output was dropped.)"

// DataOut sends Evennia-style send data to s through clean_senddata.
func (h *ServerSessionHandler) DataOut(s *ServerSession, data map[string]any) {
	msgs := h.CleanSendData(s, data)
	h.SendMessages(s, msgs...)
}

// SendMessages sends clean messages to s.
func (h *ServerSessionHandler) SendMessages(s *ServerSession, msgs ...contract.Message) {
	if len(msgs) == 0 || h.sessions[s.Sessid] != s {
		return
	}
	h.portals.Send(s.Plugin, DataOut{Sessids: []uint64{s.Sessid}, Messages: msgs})
}

// CleanSendData normalises send data for s (Evennia's clean_senddata), in
// s's encoding.
func (h *ServerSessionHandler) CleanSendData(s *ServerSession, data map[string]any) []contract.Message {
	msgs, bad := contract.CleanSendData(data, s.Encoding())
	if bad {
		h.log.Warn("clean_senddata: bad encoding in output", "sessid", s.Sessid)
	}
	return msgs
}

// DataIn handles input from a plugin for session sessid (Evennia's
// data_in): it goes to the session's inputfuncs. Input for a session of
// another plugin is ignored.
func (h *ServerSessionHandler) DataIn(plugin string, sessid uint64, msgs []contract.Message) {
	s := h.sessions[sessid]
	if s == nil || s.Plugin != plugin {
		return
	}
	s.DataIn(msgs...)
}

// GetInputfuncs returns the registered inputfuncs by name.
func (h *ServerSessionHandler) GetInputfuncs() map[string]Inputfunc { return h.inputfuncs }

// CallInputfuncs runs each message's inputfunc (Evennia's call_inputfuncs):
// the name is trimmed and lower-cased, options are popped, unknown names go
// to `default`. While the session waits on an async operation the input is
// held, in order.
func (h *ServerSessionHandler) CallInputfuncs(s *ServerSession, msgs []contract.Message) {
	if s.busy > 0 {
		if len(s.held) < maxHeld {
			s.held = append(s.held, msgs)
		}
		return
	}
	for i, m := range msgs {
		if s.busy > 0 {
			// The rest of this batch goes before input held meanwhile
			// (this batch may itself be held input being released).
			s.held = append([][]contract.Message{msgs[i:]}, s.held...)
			return
		}
		if h.sessions[s.Sessid] != s {
			return
		}
		if !h.allowCommand(s) {
			// Dropped, as Evennia does; told once per burst.
			if !s.rateWarned {
				s.rateWarned = true
				s.Msg(MsgCommandRate)
			}
			continue
		}
		s.rateWarned = false
		name := normaliseInputfuncName(m.Name)
		kwargs := m.Kwargs
		if _, ok := kwargs["options"]; ok {
			kwargs = contract.WithoutOptions(kwargs)
		}
		f, ok := h.inputfuncs[name]
		args := m.Args
		if !ok {
			f = h.inputfuncs["default"]
			args = append([]any{name}, m.Args...)
		}
		h.callInputfunc(f, s, name, args, kwargs)
	}
}

// maxHeld bounds input held while a session waits.
const maxHeld = 256

func (h *ServerSessionHandler) callInputfunc(f Inputfunc, s *ServerSession, name string, args []any, kwargs map[string]any) {
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("inputfunc panicked", "inputfunc", name, "sessid", s.Sessid, "panic", r)
			if s.FlagBool(contract.FlagInputDebug) {
				s.Msg(fmt.Sprintf("Inputfunc %s failed: %v", name, r))
			}
		}
	}()
	f.Func(h, s, args, kwargs)
}

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

// StopAsync is what a reload does before it hands the plugins over: it
// stops the hashing pool (stopAsync: queued jobs are dropped and their
// sessions told to try again, nothing more is taken), then waits as
// WaitAsync does, which is now for the jobs already running (at most
// hashWorkers, one hash each) and the login writes they start. A full
// queue would otherwise hold the reload, every plugin paused, for the
// 15–25 s it takes to hash. The loop must be running.
func (h *ServerSessionHandler) StopAsync() {
	if err := h.Call(context.Background(), h.stopAsync); err != nil {
		return
	}
	h.WaitAsync()
}

// WaitAsync waits until no async operation is in flight (the hashing
// pool's jobs, running or queued, and login writes) and every continuation
// has run on the loop, including the async work continuations start (a
// login's row write follows its password check). Delayed logins are not
// waited for. The loop must be running.
func (h *ServerSessionHandler) WaitAsync() {
	for {
		<-h.inflight.idleChan()
		busy := false
		// Runs after every continuation posted so far.
		if err := h.Call(context.Background(), func() { busy = h.inflight.count() > 0 }); err != nil || !busy {
			return
		}
	}
}

// lookupCache remembers store lookups by id for the length of one
// operation; failures are remembered too.
type lookupCache[T any] struct {
	load func(id int64) (T, error)
	seen map[int64]*T
}

func (c *lookupCache[T]) get(id int64) *T {
	if v, ok := c.seen[id]; ok {
		return v
	}
	if c.seen == nil {
		c.seen = map[int64]*T{}
	}
	var p *T
	if v, err := c.load(id); err == nil {
		p = &v
	}
	c.seen[id] = p
	return p
}
