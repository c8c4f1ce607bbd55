package sessions

// Finding sessions and accounts: Evennia's session_from_* and
// sessions_from_* lookups. None of them changes anything.

import (
	"sort"

	"github.com/portico-mud/portico/core/store"
)

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
