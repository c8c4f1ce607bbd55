package sessions

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/portico-mud/portico/core/store"
)

// Messages of the limits, Evennia's where it has them.
const (
	MsgCommandRate     = "You entered commands too fast. Wait a moment and try again."
	MsgLoginThrottled  = "Too many login failures; please try again in a few minutes."
	MsgCreateThrottled = "You are creating too many accounts. Please log into an existing account."
	MsgBanned          = "You have been banned and cannot continue from here.\nIf you feel this ban is in error, please email an admin."
	ReasonBanned       = "Good bye! Disconnecting."
	MsgIdleWarning     = "You have been idle for a while and will be disconnected soon unless you type something (\"idle\" will do)."
)

// Throttle kinds.
const (
	ThrottleLogin  = "login"
	ThrottleCreate = "create"
)

// throttle counts events per key within a sliding window. It lives on the
// loop; no lock.
type throttle struct {
	hits map[string][]time.Time
}

func (t *throttle) count(key string, now time.Time, window time.Duration) int {
	if t.hits == nil {
		return 0
	}
	hs := t.hits[key]
	i := 0
	for i < len(hs) && now.Sub(hs[i]) > window {
		i++
	}
	if i == len(hs) {
		delete(t.hits, key)
		return 0
	}
	if i > 0 {
		t.hits[key] = append([]time.Time(nil), hs[i:]...)
	}
	return len(t.hits[key])
}

func (t *throttle) add(key string, now time.Time) {
	if t.hits == nil {
		t.hits = map[string][]time.Time{}
	}
	t.hits[key] = append(t.hits[key], now)
	// Bound memory: a key never holds more than it takes to refuse.
	if len(t.hits[key]) > 256 {
		t.hits[key] = t.hits[key][len(t.hits[key])-256:]
	}
}

func (t *throttle) reset(key string) { delete(t.hits, key) }

// sweep drops keys with no hit inside window (run from the idle ticker so
// that a flood of distinct addresses does not grow the map forever).
func (t *throttle) sweep(now time.Time, window time.Duration) {
	for k := range t.hits {
		t.count(k, now, window)
	}
}

// hostOf returns the address part of "host:port".
func hostOf(address string) string {
	if h, _, err := net.SplitHostPort(address); err == nil {
		return h
	}
	return address
}

// Throttled reports whether kind (ThrottleLogin, ThrottleCreate) is over
// its limit for the session's address, or for account when given.
func (h *ServerSessionHandler) Throttled(kind string, s *ServerSession, account string) bool {
	limit, window := h.throttleLimit(kind)
	if limit <= 0 {
		return false
	}
	now := h.now()
	if h.throttles.count(kind+"|ip|"+hostOf(s.Address), now, window) >= limit {
		return true
	}
	return account != "" && h.throttles.count(kind+"|acct|"+strings.ToLower(account), now, window) >= limit
}

// ThrottleHit records one event of kind for the session's address and,
// when given, the account.
func (h *ServerSessionHandler) ThrottleHit(kind string, s *ServerSession, account string) {
	now := h.now()
	h.throttles.add(kind+"|ip|"+hostOf(s.Address), now)
	if account != "" {
		h.throttles.add(kind+"|acct|"+strings.ToLower(account), now)
	}
}

func (h *ServerSessionHandler) throttleLimit(kind string) (int, time.Duration) {
	l := h.settings.Limits
	switch kind {
	case ThrottleLogin:
		return l.LoginFailures, l.LoginFailureWindow
	case ThrottleCreate:
		return l.AccountCreations, l.AccountCreationWindow
	}
	return 0, 0
}

// allowCommand spends one of the session's command tokens (a bucket of
// CommandRate refilled every second); it reports false when none is left.
// Bots are exempt: they carry a whole network's traffic.
func (h *ServerSessionHandler) allowCommand(s *ServerSession) bool {
	rate := h.settings.Limits.CommandRate
	if rate <= 0 || isBot(s) {
		return true
	}
	now := h.now()
	if s.cmdTokensAt.IsZero() {
		s.cmdTokens = float64(rate)
	} else {
		s.cmdTokens = min(float64(rate), s.cmdTokens+now.Sub(s.cmdTokensAt).Seconds()*float64(rate))
	}
	s.cmdTokensAt = now
	if s.cmdTokens < 1 {
		return false
	}
	s.cmdTokens--
	return true
}

// LoadBans reads the bans from the store.
func (h *ServerSessionHandler) LoadBans(ctx context.Context) error {
	bans, err := h.store.Bans(ctx)
	if err != nil {
		return err
	}
	h.bans = bans
	return nil
}

// Bans returns the bans in force.
func (h *ServerSessionHandler) Bans() []store.Ban { return append([]store.Ban(nil), h.bans...) }

// Ban adds a ban (an account name, an IP or a CIDR range) and disconnects
// the sessions it covers.
func (h *ServerSessionHandler) Ban(ctx context.Context, target, reason, by string) (store.Ban, error) {
	kind, value, err := store.ParseBanTarget(target)
	if err != nil {
		return store.Ban{}, err
	}
	b, err := h.store.AddBan(ctx, kind, value, reason, by)
	if err != nil {
		return store.Ban{}, err
	}
	h.bans = append(h.bans, b)
	for _, s := range h.sortedSessions() {
		if _, banned := h.bannedSession(s); banned {
			s.Msg(MsgBanned)
			h.Disconnect(s, ReasonBanned, true)
		}
	}
	return b, nil
}

// Unban removes a ban on target.
func (h *ServerSessionHandler) Unban(ctx context.Context, target string) error {
	kind, value, err := store.ParseBanTarget(target)
	if err != nil {
		return err
	}
	if err := h.store.RemoveBan(ctx, kind, value); err != nil {
		return err
	}
	out := h.bans[:0]
	for _, b := range h.bans {
		if !(b.Kind == kind && strings.EqualFold(b.Value, value)) {
			out = append(out, b)
		}
	}
	h.bans = out
	return nil
}

// bannedSession reports the ban that covers session s: its address, or
// its account once logged in.
func (h *ServerSessionHandler) bannedSession(s *ServerSession) (store.Ban, bool) {
	if b, ok := h.bannedAddress(s.Address); ok {
		return b, true
	}
	if s.LoggedIn {
		return h.bannedAccount(s.UName)
	}
	return store.Ban{}, false
}

func (h *ServerSessionHandler) bannedAddress(address string) (store.Ban, bool) {
	addr, err := netip.ParseAddr(hostOf(address))
	if err != nil {
		return store.Ban{}, false
	}
	addr = addr.Unmap()
	for _, b := range h.bans {
		if b.Kind != store.BanAddress {
			continue
		}
		if p, err := netip.ParsePrefix(b.Value); err == nil && p.Contains(addr) {
			return b, true
		}
	}
	return store.Ban{}, false
}

func (h *ServerSessionHandler) bannedAccount(name string) (store.Ban, bool) {
	for _, b := range h.bans {
		if b.Kind == store.BanAccount && strings.EqualFold(b.Value, name) {
			return b, true
		}
	}
	return store.Ban{}, false
}

// Boot disconnects s, telling it who did it and why (Evennia's @boot).
func (h *ServerSessionHandler) Boot(s *ServerSession, by, reason string) {
	msg := fmt.Sprintf("You have been disconnected by %s.", by)
	if reason != "" {
		msg += " Reason: " + reason
	}
	s.Msg(msg)
	h.Disconnect(s, "Good bye! Disconnecting.", true)
}
