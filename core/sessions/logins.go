package sessions

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

// The host is the only authority on who is logged in. A plugin reports its
// sessions' data, login included, but its word proves nothing: at every
// login and puppet change the host saves (sessid, plugin, uid, puid) in its
// store, and when it (re)attaches to a plugin — a reload, or a start after
// the host was killed — it accepts a session as logged in only if the
// plugin's uid and puid match that session's saved row. A session may
// arrive logged in on Connect only as a bot the host asked that very
// plugin to start, as the session StartBot named. Anything else arrives
// logged out and is logged as a refused claim.
//
// Rows are written by one ordered writer goroutine, off the loop: a flush
// to disk costs milliseconds, and the loop must not stall on it when
// hundreds of players log in at once. The writer takes whatever is queued
// and applies it in one transaction (one flush for a whole burst), in the
// order the loop queued it, so a row saved and then deleted is gone. The
// plugin is told of a login or a puppet change only in the continuation
// that runs once the row is durable, so a crash never leaves a plugin
// believing a login the host cannot prove. Meanwhile the host already acts
// on the login; the session's further input waits, as for a password check.
// Writing inside the password check's Async work was the other choice; it
// would not do: the puppet a login takes is decided on the loop (mode 2),
// bots and puppet changes have no password check, and a session's end must
// be written after the login it ends. One ordered writer serves them all.
// What a crash can still cost: between a puppet change's commit and the
// plugin's sync, the plugin holds the older character and the session
// comes back logged out (never as more than it was).

// Messages and reasons of refused or failed logins.
const (
	// MsgLoginNotSaved ends a session whose login the host could not save.
	MsgLoginNotSaved = "The server could not record your login. Please try again later."
	// ReasonRefusedClaim ends a session that came as a bot it is not.
	ReasonRefusedClaim = "This session is not the one the server started."
)

// loginFields are the session fields that say who it is logged in as.
var loginFields = []string{contract.FieldUID, contract.FieldUName, contract.FieldLoggedIn, contract.FieldPUID}

// errNoStore fails login writes of a handler made without a store.
var errNoStore = errors.New("sessions: no store to save logins in")

// loginView is who a session is logged in as, as one party knows it.
type loginView struct {
	loggedIn bool
	uid      int64
	uname    string
	puid     int64
}

// claims reports whether v says the session is someone: a name alone
// (display data) is not a claim.
func (v loginView) claims() bool { return v.loggedIn || v.uid != 0 || v.puid != 0 }

// apply writes v into d's login fields.
func (v loginView) apply(d *contract.SessionData) {
	d.LoggedIn, d.UID, d.UName, d.PUID = v.loggedIn, v.uid, v.uname, v.puid
}

// portalData is s's data as its plugin may see it: the login fields are
// those already saved (told), never a login still being written.
func (s *ServerSession) portalData() contract.SessionData {
	d := s.GetSyncData()
	s.told.apply(&d)
	return d
}

// inflight counts the handler's async operations (password checks, login
// writes) until each has posted its continuation to the loop.
type inflight struct {
	mu sync.Mutex
	n  int
	// idle is closed while n is 0.
	idle chan struct{}
}

func newInflight() *inflight {
	c := &inflight{idle: make(chan struct{})}
	close(c.idle)
	return c
}

func (c *inflight) add() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		c.idle = make(chan struct{})
	}
	c.n++
}

func (c *inflight) done() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if c.n == 0 {
		close(c.idle)
	}
}

// idleChan returns a channel closed once nothing is in flight.
func (c *inflight) idleChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.idle
}

func (c *inflight) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// loginWriter is the queue of the ordered login writer; a writer goroutine
// runs while it is not empty.
type loginWriter struct {
	mu      sync.Mutex
	queue   []loginOp
	running bool
}

// loginOp is one queued change and what to run on the loop once it is
// durable (or failed); then may be nil.
type loginOp struct {
	change store.SessionLoginChange
	then   func(err error)
}

// queueLogin hands a change to the writer. It runs on the loop, which
// fixes the order of the changes.
func (h *ServerSessionHandler) queueLogin(c store.SessionLoginChange, then func(err error)) {
	// A change that cannot be saved fails alone, here, never the batch it
	// would have joined (every login in it would end its session).
	if err := c.Validate(); err != nil {
		h.log.Error("cannot save session login", "change", c.String(), "err", err)
		if then != nil {
			// Posted, not called: the caller is still in the middle of
			// its work on the loop, and then runs after it as for a save.
			h.inflight.add()
			go func() {
				defer h.inflight.done()
				h.jobs <- func() { then(err) }
			}()
		}
		return
	}
	w := &h.logins
	w.mu.Lock()
	w.queue = append(w.queue, loginOp{change: c, then: then})
	start := !w.running
	w.running = true
	w.mu.Unlock()
	if start {
		h.inflight.add()
		go h.writeLogins()
	}
}

// writeLogins applies queued changes in batches until the queue is empty,
// then ends; each batch's continuations are posted to the loop in order.
func (h *ServerSessionHandler) writeLogins() {
	defer h.inflight.done()
	w := &h.logins
	for {
		w.mu.Lock()
		batch := w.queue
		w.queue = nil
		if len(batch) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		changes := make([]store.SessionLoginChange, len(batch))
		for i, op := range batch {
			changes[i] = op.change
		}
		var invalid []error
		err := errNoStore
		if h.store != nil {
			// Each change gets its own result: one the store finds invalid
			// fails alone (queueLogin already refuses those it can see).
			invalid, err = h.store.ApplyEachSessionLogin(context.Background(), changes...)
		}
		if err != nil {
			h.log.Error("cannot save session logins", "changes", len(changes), "first", changes[0].String(), "err", err)
		}
		type result struct {
			then func(error)
			err  error
		}
		var results []result
		for i, op := range batch {
			e := err
			if invalid != nil && invalid[i] != nil {
				e = invalid[i]
				h.log.Error("cannot save session login", "change", changes[i].String(), "err", e)
			}
			if op.then != nil {
				results = append(results, result{op.then, e})
			}
		}
		if len(results) > 0 {
			h.jobs <- func() {
				for _, r := range results {
					r.then(r.err)
				}
			}
		}
	}
}

// saveLogin saves s's current login (account and puppet) and calls then on
// the loop once it is durable, with what was saved.
func (h *ServerSessionHandler) saveLogin(s *ServerSession, then func(saved loginView, err error)) {
	v := loginView{loggedIn: true, uid: s.UID, uname: s.UName, puid: s.PUID}
	s.rowSaved = true
	h.queueLogin(store.SaveSessionLogin(store.SessionLogin{Sessid: s.Sessid, Plugin: s.Plugin, UID: s.UID, PUID: s.PUID}),
		func(err error) { then(v, err) })
}

// forgetLogin deletes s's row when it has one (the session ended).
func (h *ServerSessionHandler) forgetLogin(s *ServerSession) {
	if s.rowSaved {
		s.rowSaved = false
		h.queueLogin(store.DeleteSessionLogin(s.Sessid), nil)
	}
}

// finishLogin tells s's plugin of a login now saved, then runs Evennia's
// at_post_login: the login hook, the OOB notice, where the player is.
func (h *ServerSessionHandler) finishLogin(s *ServerSession, acc store.Account, saved loginView) {
	s.told = saved
	h.portals.Send(s.Plugin, Login{Sessid: s.Sessid, UID: saved.uid, UName: saved.uname, PUID: saved.puid})
	h.log.Info("login", "account", acc.Name, "sessid", s.Sessid, "plugin", s.Plugin)
	if h.loginHook != nil {
		h.loginHook(s)
	}
	h.SendMessages(s, contract.Message{Name: "logged_in", Kwargs: map[string]any{"options": map[string]any{}}})
	if s.Puppet != nil {
		s.Msg(fmt.Sprintf("\nYou become %s.\n", s.Puppet.Name))
	} else {
		s.Msg("\nYou are out-of-character (OOC). Use ic <character> to play one of your characters.\n")
	}
	if h.commands != nil {
		h.commands.Execute(s, "look")
	}
}

// savePuppet saves s's new puppet, then tells the plugin (a partial sync):
// the plugin never holds a puppet the host's row does not.
func (h *ServerSessionHandler) savePuppet(s *ServerSession) {
	h.saveLogin(s, func(saved loginView, err error) {
		if h.sessions[s.Sessid] != s {
			return
		}
		if err != nil {
			// The plugin keeps the puppet it was last told, which is the one
			// saved: a reattach still accepts the session.
			h.log.Error("puppet change not saved", "sessid", s.Sessid, "puid", saved.puid, "err", err)
			return
		}
		s.told = saved
		h.sendSync(s, []string{contract.FieldPUID})
	})
}

// refuseClaim logs a login claim the host does not accept and tells the
// plugin the session is logged out. s is logged out already.
func (h *ServerSessionHandler) refuseClaim(s *ServerSession, claim loginView, reason string) {
	h.log.Warn("refused login claim", "plugin", s.Plugin, "sessid", s.Sessid, "uid", claim.uid, "puid", claim.puid,
		"uname", claim.uname, "reason", reason)
	s.told = loginView{}
	h.sendSync(s, loginFields)
}

// PluginLaunched forgets the saved logins of a plugin launched afresh (not
// reattached): the sessions they name died with the old process, and
// session ids are never reused.
func (h *ServerSessionHandler) PluginLaunched(plugin string) {
	h.bots.forgetPlugin(plugin)
	h.queueLogin(store.DeletePluginLogins(plugin), nil)
}

// restoreLogin decides, after a reattach, whether s (its data just loaded
// from its plugin) is logged in: only if the plugin's uid and puid match
// the row the host saved for this session and plugin. s is left logged in
// or logged out accordingly; the reason of a refusal is returned.
func (h *ServerSessionHandler) restoreLogin(s *ServerSession, row store.SessionLogin, hasRow bool,
	lookups *restoreLookups) (claim loginView, reason string) {
	claim = loginView{loggedIn: s.LoggedIn, uid: s.UID, uname: s.UName, puid: s.PUID}
	s.Account, s.Puppet = nil, nil
	s.LoggedIn, s.UID, s.UName, s.PUID = false, 0, "", 0
	s.told = loginView{}
	s.rowSaved = false
	if !claim.claims() {
		return claim, ""
	}
	var acc *store.Account
	switch {
	case !claim.loggedIn || claim.uid <= 0:
		reason = "incomplete login"
	case !hasRow:
		reason = "the host never logged this session in"
	case row.UID != claim.uid || row.PUID != claim.puid:
		reason = fmt.Sprintf("the host logged this session in as uid %d puid %d", row.UID, row.PUID)
	default:
		if acc = lookups.account(claim.uid); acc == nil {
			reason = "account not found"
		}
	}
	if reason != "" {
		return claim, reason
	}
	s.Account = acc
	s.LoggedIn, s.UID, s.UName, s.PUID = true, acc.ID, acc.Name, row.PUID
	if row.PUID != 0 {
		s.Puppet = lookups.character(row.PUID)
	}
	s.told = loginView{loggedIn: true, uid: acc.ID, uname: acc.Name, puid: row.PUID}
	s.rowSaved = true
	return claim, ""
}

// restoreLookups looks accounts and characters up once each for a whole
// reattach (thousands of sessions share few accounts).
type restoreLookups struct {
	accounts   lookupCache[store.Account]
	characters lookupCache[store.Character]
}

func (l *restoreLookups) account(id int64) *store.Account     { return l.accounts.get(id) }
func (l *restoreLookups) character(id int64) *store.Character { return l.characters.get(id) }

// ---- bots ----

// botStarts are the bot sessions the host has asked plugins to start. A
// session may arrive logged in as a bot's account only from the plugin
// asked to start that bot, once per start, and only as the session that
// plugin's StartBot named. The Connect may reach the host before StartBot's
// answer (a plugin connects the bot before returning): then the session is
// accepted on the pending start, and ended if StartBot then names another.
// It is shared by the loop and the goroutines that call StartBot.
type botStarts struct {
	mu sync.Mutex
	m  map[botKey][]*botStart
}

type botKey struct {
	plugin string
	uid    int64
}

type botStart struct {
	key botKey
	// returned is set once StartBot answered, with sessid.
	returned bool
	sessid   uint64
	// arrived is the session that came logged in as the bot, 0 until one did.
	arrived uint64
}

// maxBotStarts bounds the starts kept per bot whose session never came.
const maxBotStarts = 8

// begin records that plugin is being asked to start bot account uid.
func (b *botStarts) begin(plugin string, uid int64) *botStart {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[botKey][]*botStart{}
	}
	st := &botStart{key: botKey{plugin: plugin, uid: uid}}
	list := append(b.m[st.key], st)
	if len(list) > maxBotStarts {
		list = list[len(list)-maxBotStarts:]
	}
	b.m[st.key] = list
	return st
}

func (b *botStarts) removeLocked(st *botStart) {
	list := b.m[st.key]
	for i, x := range list {
		if x == st {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(b.m, st.key)
	} else {
		b.m[st.key] = list
	}
}

// end records StartBot's answer. It returns the id of a session that came
// as the bot but is not the bot's (StartBot named another, or failed), for
// the caller to end; 0 if there is none.
func (b *botStarts) end(st *botStart, sessid uint64, err error) (stray uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.removeLocked(st)
		return st.arrived
	}
	st.returned, st.sessid = true, sessid
	if st.arrived == 0 {
		return 0 // kept until its session arrives
	}
	b.removeLocked(st)
	if st.arrived != sessid {
		return st.arrived
	}
	return 0
}

// claim reports whether session sessid of plugin may arrive logged in as
// bot account uid, and if so uses up the start it came for.
func (b *botStarts) claim(plugin string, uid int64, sessid uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	list := b.m[botKey{plugin: plugin, uid: uid}]
	var pick *botStart
	// The start whose StartBot named this session; else the oldest start
	// still waiting for StartBot's answer.
	for _, st := range list {
		if st.arrived == 0 && st.returned && st.sessid == sessid {
			pick = st
			break
		}
	}
	if pick == nil {
		for _, st := range list {
			if st.arrived == 0 && !st.returned {
				pick = st
				break
			}
		}
	}
	if pick == nil {
		return false
	}
	pick.arrived = sessid
	if pick.returned {
		b.removeLocked(pick)
	}
	return true
}

// forgetPlugin drops the answered starts of plugin: their sessions died
// with it. Starts still waiting for StartBot stay with their caller.
func (b *botStarts) forgetPlugin(plugin string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, list := range b.m {
		if k.plugin != plugin {
			continue
		}
		for _, st := range list {
			if st.returned {
				b.removeLocked(st)
			}
		}
	}
}

// botUID is the bot account a start_bot_session config names ("uid", set
// by the host), or 0.
func botUID(config map[string]any) int64 {
	switch v := config["uid"].(type) {
	case int64:
		return v
	case int:
		return int64(v)
	case float64:
		if v == math.Trunc(v) && v > 0 && v < math.MaxInt64 {
			return int64(v)
		}
	}
	return 0
}

// checkBotClaim returns why session sessid of plugin may not arrive logged
// in as account uid, or "" when it may (it is the bot the host started).
func (h *ServerSessionHandler) checkBotClaim(plugin string, sessid uint64, uid int64) string {
	switch {
	case uid <= 0:
		return "no account"
	case h.trustLogin == nil || !h.trustLogin(plugin, uid):
		return "not a bot account"
	case !h.bots.claim(plugin, uid, sessid):
		return "no bot of this account was started on this plugin as this session"
	}
	return ""
}

// endStrayBot ends session sessid of plugin, which came logged in as bot
// account uid under a start whose StartBot named another session (want) or
// failed (want 0).
func (h *ServerSessionHandler) endStrayBot(plugin string, sessid uint64, uid int64, want uint64) {
	s := h.sessions[sessid]
	if s == nil || s.Plugin != plugin || s.UID != uid {
		return
	}
	reason := "the bot's start failed"
	if want != 0 {
		reason = fmt.Sprintf("StartBot named session %d", want)
	}
	h.log.Warn("refused login claim", "plugin", plugin, "sessid", sessid, "uid", uid, "puid", s.PUID,
		"uname", s.UName, "reason", reason)
	h.Disconnect(s, ReasonRefusedClaim, true)
}
