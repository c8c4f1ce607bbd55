package sessions

// What arrives from the plugins: Evennia's portal_* methods (PCONN, PCONNSYNC,
// PSYNC, PDISCONN, PDISCONNALL), and the connection screen of a new session.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

// PortalConnect is Evennia's portal_connect (PCONN): it creates the session
// of a new connection and shows it the connection screen. A session may come
// logged in only as a bot the host asked this plugin to start, as the
// session its StartBot named: it is logged in at once. Any other claim would
// let a plugin act as any player, admins included: it is refused (logged),
// and the session gets the connection screen like the others.
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
	if len(c.PublicKey) > 0 {
		h.checkCredentials(s, name, c) // a key proves itself; no password is guessed
		return
	}
	h.delayLogin(s, name, func() { h.checkCredentials(s, name, c) })
}

// checkCredentials checks, in the hashing pool, the credentials s
// connected with (a password only once the login throttle lets it
// through), and logs s in when they are right; else s gets the connection
// screen.
func (h *ServerSessionHandler) checkCredentials(s *ServerSession, name string, c Credentials) {
	if len(c.PublicKey) == 0 && h.Throttled(ThrottleLogin, s, name) {
		h.log.Warn("login throttled", "name", name, "address", s.Address)
		h.Meter().Login(LoginThrottled)
		h.Meter().Throttled(ThrottleLogin)
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
		return func() { h.credentialsChecked(s, name, c, acc, err) }
	}) {
		h.runLookAtLoginStart(s)
	}
}

// credentialsChecked is checkCredentials' continuation on the loop: s is
// logged in as acc, or, when err says the credentials were wrong, a wrong
// password counts against the login throttle and is answered with
// Evennia's message before the connection screen.
func (h *ServerSessionHandler) credentialsChecked(s *ServerSession, name string, c Credentials, acc store.Account, err error) {
	if h.sessions[s.Sessid] != s || s.LoggedIn {
		return
	}
	if err == nil {
		if len(c.PublicKey) == 0 {
			h.loginSucceeded(s, name)
		}
		h.Meter().Login(LoginOK)
		h.Login(s, acc, true)
		return
	}
	if !errors.Is(err, store.ErrBadCredentials) {
		h.loginUnavailable(s, "connect", name, err)
		h.runLookAtLoginStart(s)
		return
	}
	h.Meter().Login(LoginFailed)
	if len(c.PublicKey) == 0 && c.Password != "" {
		h.log.Info("login failed", "name", name, "address", s.Address)
		h.ThrottleHit(ThrottleLogin, s, name)
		s.Msg(MsgBadLogin)
	}
	h.runLookAtLoginStart(s)
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
	h.memRelease.Note()
	s := &ServerSession{SessionData: d, Plugin: plugin, handler: h}
	if s.ServerData == nil {
		s.ServerData = map[string]any{}
	}
	// A plugin that did not set the counters (init_session) must not have
	// its sessions dropped as idle at the next check.
	now := h.now()
	for _, t := range []*time.Time{&s.ConnTime, &s.CmdLast, &s.CmdLastVisible} {
		if t.IsZero() {
			*t = now
		}
	}
	return s
}

// PortalSessionSync is Evennia's portal_session_sync (PCONNSYNC): it loads
// one session's data from its plugin (negotiation results, a window resize),
// never the login, which is the host's. fields names what is carried (all
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
	h.CheckMonitors(s) // a window resize, a client's name
}

// PortalSessionsGone removes the sessions the host holds for plugin that
// are not in all, the plugin's whole list (its Sessions answer): they
// ended while the host could not hear of it, as when a remote plugin's
// connection was down. PortalSessionsSync then rebuilds the listed ones;
// together they are a clean sync.
func (h *ServerSessionHandler) PortalSessionsGone(plugin string, all []contract.SessionData) {
	listed := make(map[uint64]bool, len(all))
	for _, d := range all {
		listed[d.Sessid] = true
	}
	for _, s := range h.sortedSessions() {
		if s.Plugin == plugin && !listed[s.Sessid] {
			h.Disconnect(s, "connection lost while the host was not linked to its plugin", false)
		}
	}
}

// PortalSessionsSync is Evennia's portal_sessions_sync (PSYNC): it rebuilds
// the sessions of a plugin the host (re)attached to: one ServerSession per
// entry, then the restart announcement. A session the plugin reports logged
// in keeps its account and puppet (without login hooks) only if they match
// the login the host saved for that session and plugin; any other claim is
// refused and logged, and the session is logged out and shown the connection
// screen.
func (h *ServerSessionHandler) PortalSessionsSync(plugin string, all []contract.SessionData) {
	h.PortalSessionsSyncSaved(plugin, all, h.SavedLogins(plugin))
}

// SavedLogins are the logins the host saved for one plugin's sessions, read
// for a PortalSessionsSyncSaved.
type SavedLogins struct {
	plugin string
	rows   map[uint64]store.SessionLogin
}

// SavedLogins reads the logins saved for plugin's sessions. Unlike the
// handler's other methods it may run off the loop, since it reads only the
// store: a reattach reads them while the plugin prepares its list of
// sessions, rather than after it. What is read stands for the restore: a
// login the plugin can claim was saved before the plugin was told of it,
// on a link that has ended by the time a new run reads them.
func (h *ServerSessionHandler) SavedLogins(plugin string) SavedLogins {
	return SavedLogins{plugin: plugin, rows: h.savedLogins(plugin)}
}

// PortalSessionsSyncSaved is PortalSessionsSync with the plugin's saved
// logins read beforehand (SavedLogins). Rows read for another plugin count
// as none: every login claim is refused.
func (h *ServerSessionHandler) PortalSessionsSyncSaved(plugin string, all []contract.SessionData, logins SavedLogins) {
	saved := logins.rows
	if logins.plugin != plugin || saved == nil {
		h.log.Error("restore sessions: saved logins read for another plugin; every login claim is refused",
			"plugin", plugin, "read_for", logins.plugin)
		saved = map[uint64]store.SessionLogin{}
	}
	if len(h.sessions) == 0 && len(all) > 0 {
		// A new image's first restore: the map is made at its size once
		// rather than grown through every doubling to ten thousand.
		h.sessions = make(map[uint64]*ServerSession, len(all))
	}
	lookups := h.newRestoreLookups()
	targets := make([]*ServerSession, 0, len(all))
	var refused []*ServerSession
	for _, d := range all {
		s := h.restoreSession(plugin, d)
		if s == nil {
			continue
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
		h.restoreWatches(s)
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

// restoreSession makes or updates the session of one entry of a
// PortalSessionsSync, or returns nil when the entry names another
// plugin's session (logged and ignored). Its login is not decided here:
// restoreLogin does that.
func (h *ServerSessionHandler) restoreSession(plugin string, d contract.SessionData) *ServerSession {
	s, ok := h.sessions[d.Sessid]
	switch {
	case !ok:
		s = h.newSession(plugin, d)
		h.sessions[d.Sessid] = s
	case s.Plugin != plugin:
		h.log.Warn("restore sessions: a plugin listed another plugin's session; ignored", "plugin", plugin,
			"sessid", d.Sessid, "owner", s.Plugin)
		return nil
	default:
		s.LoadSyncData(d, nil)
	}
	return s
}

// PortalDisconnect is Evennia's portal_disconnect (PDISCONN): it removes a
// session whose client went away, without telling the plugin, which already
// knows.
func (h *ServerSessionHandler) PortalDisconnect(plugin string, sessid uint64, reason string) {
	s := h.sessions[sessid]
	if s == nil || s.Plugin != plugin {
		return
	}
	h.Disconnect(s, reason, false)
}

// PortalDisconnectAll is Evennia's portal_disconnect_all (PDISCONNALL): it
// removes every session of a plugin that stopped or crashed. Its sessions
// are gone on its side already, and so are their saved logins (one delete
// for the plugin).
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
