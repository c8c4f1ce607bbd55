package sessions

// Finding sessions and accounts: Evennia's get, get_sessions and the
// session_from_* and sessions_from_* lookups. None of them changes anything.

import (
	"sort"

	"github.com/portico-mud/portico/core/store"
)

// Get is Evennia's SessionHandler.get, the handler read as a dict by
// session id: the session with sessid, or nil when there is none.
func (h *ServerSessionHandler) Get(sessid uint64) *ServerSession { return h.sessions[sessid] }

// GetSessions is Evennia's get_sessions: the logged-in sessions, or every
// session, logged in or not, when includeUnloggedIn is set; oldest id
// first.
func (h *ServerSessionHandler) GetSessions(includeUnloggedIn bool) []*ServerSession {
	all := h.sortedSessions()
	if includeUnloggedIn {
		return all
	}
	out := all[:0]
	for _, s := range all {
		if s.LoggedIn {
			out = append(out, s)
		}
	}
	return out
}

// AccountCount is Evennia's account_count: the number of distinct logged-in
// accounts.
func (h *ServerSessionHandler) AccountCount() int {
	seen := map[int64]bool{}
	for _, s := range h.sessions {
		if s.LoggedIn {
			seen[s.UID] = true
		}
	}
	return len(seen)
}

// AllConnectedAccounts is Evennia's all_connected_accounts: each logged-in
// account once, ordered by name.
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

// SessionFromSessid is Evennia's session_from_sessid, for one id: the
// session with id, or nil (the same as Get).
func (h *ServerSessionHandler) SessionFromSessid(id uint64) *ServerSession { return h.Get(id) }

// SessionFromAccount is Evennia's session_from_account: account uid's
// logged-in session with id sessid, or nil.
func (h *ServerSessionHandler) SessionFromAccount(uid int64, sessid uint64) *ServerSession {
	if s := h.sessions[sessid]; s != nil && s.LoggedIn && s.UID == uid {
		return s
	}
	return nil
}

// SessionsFromAccount is Evennia's sessions_from_account: the logged-in
// sessions of account uid, oldest first.
func (h *ServerSessionHandler) SessionsFromAccount(uid int64) []*ServerSession {
	var out []*ServerSession
	for _, s := range h.sortedSessions() {
		if s.LoggedIn && s.UID == uid {
			out = append(out, s)
		}
	}
	return out
}

// SessionsFromPuppet is Evennia's sessions_from_puppet: the sessions
// puppeting character puid, oldest first (always a slice, where Evennia
// returns a lone session bare).
func (h *ServerSessionHandler) SessionsFromPuppet(puid int64) []*ServerSession {
	var out []*ServerSession
	for _, s := range h.sortedSessions() {
		if puid != 0 && s.PUID == puid {
			out = append(out, s)
		}
	}
	return out
}

// SessionsFromCharacter is Evennia's sessions_from_character, which is
// sessions_from_puppet under another name: a character is what a session
// puppets, so these are the sessions puppeting character id, oldest first.
func (h *ServerSessionHandler) SessionsFromCharacter(id int64) []*ServerSession {
	return h.SessionsFromPuppet(id)
}

// SessionsFromCsessid is Evennia's sessions_from_csessid: the sessions with
// client session id csessid (a browser's), none for "".
func (h *ServerSessionHandler) SessionsFromCsessid(csessid string) []*ServerSession {
	var out []*ServerSession
	for _, s := range h.sortedSessions() {
		if csessid != "" && s.Csessid == csessid {
			out = append(out, s)
		}
	}
	return out
}

// Sessions returns every session, logged in or not, oldest id first: it
// is GetSessions(true).
func (h *ServerSessionHandler) Sessions() []*ServerSession { return h.GetSessions(true) }

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
