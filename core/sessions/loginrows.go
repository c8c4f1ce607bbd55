package sessions

import (
	"context"
	"errors"
	"fmt"
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

// savedLogins reads the saved logins of plugin's sessions, for a
// reattach. It is one query for the whole plugin: a reload restores
// thousands of sessions. The host's own writes for this plugin's sessions
// cannot be pending: its link has not opened yet. Without a store, or when
// the rows cannot be read, there are none, and every login claim is
// refused.
func (h *ServerSessionHandler) savedLogins(plugin string) map[uint64]store.SessionLogin {
	if h.store == nil {
		h.log.Error("restore sessions: no store; every login claim is refused", "plugin", plugin)
		return map[uint64]store.SessionLogin{}
	}
	rows, err := h.store.SessionLogins(context.Background(), plugin)
	if err != nil {
		h.log.Error("restore sessions: cannot read the saved logins; every login claim is refused", "plugin", plugin, "err", err)
		return map[uint64]store.SessionLogin{}
	}
	return rows
}

// restoreLookups looks accounts and characters up once each for a whole
// reattach (thousands of sessions share few accounts).
type restoreLookups struct {
	accounts   lookupCache[store.Account]
	characters lookupCache[store.Character]
}

// newRestoreLookups makes the lookups of one reattach. Sessions of one
// account share its record, as sessions logged in live do not; both are
// read-only copies.
func (h *ServerSessionHandler) newRestoreLookups() *restoreLookups {
	ctx := context.Background()
	return &restoreLookups{
		accounts:   lookupCache[store.Account]{load: func(id int64) (store.Account, error) { return h.store.AccountByID(ctx, id) }},
		characters: lookupCache[store.Character]{load: func(id int64) (store.Character, error) { return h.store.CharacterByID(ctx, id) }},
	}
}

func (l *restoreLookups) account(id int64) *store.Account     { return l.accounts.get(id) }
func (l *restoreLookups) character(id int64) *store.Character { return l.characters.get(id) }

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
