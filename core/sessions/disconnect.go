package sessions

// Ending sessions: Evennia's disconnect, disconnect_duplicate_sessions,
// disconnect_all_sessions and validate_sessions (the idle timeout).

import "time"

// Disconnect is Evennia's disconnect: it ends session s, which is removed
// from the host, and, when syncPortal is set, the plugin is told to close it
// showing reason.
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
	h.memRelease.Note()
	s.dropInput()
	h.forgetLogin(s)
	if s.Account != nil {
		h.log.Info("logout", "account", s.Account.Name, "sessid", s.Sessid, "reason", reason)
	}
	if syncPortal {
		h.portals.Send(s.Plugin, Disconnect{Sessid: s.Sessid, Reason: reason})
	}
	h.runDisconnectHook(s, reason)
}

// DisconnectAllSessions is Evennia's disconnect_all_sessions (SDISCONNALL):
// it ends every session, telling each plugin once. An empty reason is
// Evennia's "You have been disconnected.".
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

// DisconnectDuplicateSessions is Evennia's disconnect_duplicate_sessions: it
// ends the other logged-in sessions of s's account (a login in multisession
// mode 0). An empty reason is Evennia's "Logged in from elsewhere.
// Disconnecting.".
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

// ValidateSessions is Evennia's validate_sessions, which is dead code there;
// here it is the idle check: it drops sessions idle longer than the idle
// timeout (none when it is 0), warning them a while before. Bots and admins
// are exempt (Evennia's noidletimeout lock). The loop runs it every
// validateEvery.
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
