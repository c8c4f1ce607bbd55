package sessions

// Ending sessions: Evennia's disconnect, disconnect_duplicate_sessions,
// disconnect_all_sessions and validate_sessions (the idle timeout).

import "time"

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
