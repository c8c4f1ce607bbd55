package sessions

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/portico-mud/portico/core/store"
)

// Messages of the limits, Evennia's where it has them.
const (
	MsgCommandRate     = "You entered commands too fast. Wait a moment and try again."
	MsgLoginThrottled  = "Too many login failures; please try again in a few minutes."
	MsgCreateThrottled = "You are creating too many accounts. Please log into an existing account."
	// MsgCreateAttempts answers a `create` past limits.create_attempts.
	MsgCreateAttempts = "Too many attempts to create an account; please try again in a few minutes."
	MsgBanned         = "You have been banned and cannot continue from here.\nIf you feel this ban is in error, please email an admin."
	ReasonBanned      = "Good bye! Disconnecting."
	MsgIdleWarning    = "You have been idle for a while and will be disconnected soon unless you type something (\"idle\" will do)."
)

// Throttle kinds. A counter's key starts with its kind, which decides its
// limit and window.
const (
	// ThrottleLogin counts failed logins per address and per account and
	// address.
	ThrottleLogin = "login"
	// ThrottleAccountLogin counts failed logins per account, from every
	// address together.
	ThrottleAccountLogin = "login-account"
	// ThrottleCreate counts accounts created per address.
	ThrottleCreate = "create"
	// ThrottleCreateAttempt counts `create` commands per address.
	ThrottleCreateAttempt = "create-attempt"
)

// The delay a login to an account past its failure cap waits: the first
// one past the cap waits accountLoginDelayBase, each further one twice as
// long, up to accountLoginDelayMax.
const (
	accountLoginDelayBase = time.Second
	accountLoginDelayMax  = 30 * time.Second
)

// throttle counts events per key within a sliding window. It lives on the
// loop; no lock. Keys changed since the last save are marked dirty, so
// that the state can be kept in the store across reloads.
type throttle struct {
	hits  map[string][]time.Time
	dirty map[string]bool
}

func (t *throttle) count(key string, now time.Time, window time.Duration) int {
	if t.hits == nil {
		return 0
	}
	hs, ok := t.hits[key]
	if !ok {
		return 0
	}
	i := 0
	for i < len(hs) && now.Sub(hs[i]) > window {
		i++
	}
	if i == len(hs) {
		delete(t.hits, key)
		t.markDirty(key)
		return 0
	}
	if i > 0 {
		t.hits[key] = append([]time.Time(nil), hs[i:]...)
		t.markDirty(key)
	}
	return len(t.hits[key])
}

// add records one event; keep bounds how many a key holds (a key never
// needs more than it takes to refuse, or to reach the longest delay).
func (t *throttle) add(key string, now time.Time, keep int) {
	if t.hits == nil {
		t.hits = map[string][]time.Time{}
	}
	hs := append(t.hits[key], now)
	if len(hs) > keep {
		hs = append([]time.Time(nil), hs[len(hs)-keep:]...)
	}
	t.hits[key] = hs
	t.markDirty(key)
}

func (t *throttle) reset(key string) {
	if _, ok := t.hits[key]; ok {
		delete(t.hits, key)
		t.markDirty(key)
	}
}

func (t *throttle) markDirty(key string) {
	if t.dirty == nil {
		t.dirty = map[string]bool{}
	}
	t.dirty[key] = true
}

// sweep drops hits older than their key's window (run from the idle
// ticker so that a flood of distinct addresses does not grow the map
// forever).
func (t *throttle) sweep(now time.Time, windowOf func(key string) time.Duration) {
	for k := range t.hits {
		t.count(k, now, windowOf(k))
	}
}

// hostOf returns the address part of "host:port".
func hostOf(address string) string {
	if h, _, err := net.SplitHostPort(address); err == nil {
		return h
	}
	return address
}

// throttleAddress is the address a session's throttles count under: the
// IP, or for IPv6 its /64, which one subscriber usually holds whole (so
// that walking through it does not escape the count).
func throttleAddress(address string) string {
	host := hostOf(address)
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}

// throttleName is an account name as throttle keys hold it: any letter
// case, and no longer than any stored name can be.
func throttleName(name string) string {
	const maxLen = 256
	if len(name) > maxLen {
		name = name[:maxLen]
	}
	return strings.ToLower(name)
}

func addressKey(kind string, s *ServerSession) string {
	return kind + "|ip|" + throttleAddress(s.Address)
}

func accountAddressKey(s *ServerSession, account string) string {
	return ThrottleLogin + "|acctip|" + throttleAddress(s.Address) + "|" + throttleName(account)
}

func accountKey(account string) string {
	return ThrottleAccountLogin + "|acct|" + throttleName(account)
}

// Throttled reports whether kind is over its limit for the session's
// address: for ThrottleCreate and ThrottleCreateAttempt the address's
// count; for ThrottleLogin the address's failures, or, when account is
// given, that account's failures from this address. Failures to the
// account from other addresses never refuse (see AccountLoginDelay).
func (h *ServerSessionHandler) Throttled(kind string, s *ServerSession, account string) bool {
	l := h.settings.Limits
	now := h.now()
	if h.exemptAddress(s) {
		return false
	}
	switch kind {
	case ThrottleLogin:
		if l.AddressLoginFailures > 0 &&
			h.throttles.count(addressKey(kind, s), now, l.LoginFailureWindow) >= l.AddressLoginFailures {
			return true
		}
		return account != "" && l.LoginFailures > 0 &&
			h.throttles.count(accountAddressKey(s, account), now, l.LoginFailureWindow) >= l.LoginFailures
	case ThrottleCreate, ThrottleCreateAttempt:
		limit, window := h.throttleLimit(kind)
		return limit > 0 && h.throttles.count(addressKey(kind, s), now, window) >= limit
	}
	return false
}

// ThrottleHit records one event of kind for the session's address. A
// login failure (ThrottleLogin) with an account counts for the address,
// for the account from this address and for the account everywhere.
func (h *ServerSessionHandler) ThrottleHit(kind string, s *ServerSession, account string) {
	l := h.settings.Limits
	now := h.now()
	if h.exemptAddress(s) {
		// Only the account's count from all addresses together, which
		// slows and never refuses, goes on.
		if kind == ThrottleLogin && account != "" && l.AccountLoginFailures > 0 {
			h.throttles.add(accountKey(account), now, l.AccountLoginFailures+64)
		}
		return
	}
	switch kind {
	case ThrottleLogin:
		if l.AddressLoginFailures > 0 {
			h.throttles.add(addressKey(kind, s), now, l.AddressLoginFailures+1)
		}
		if account == "" {
			return
		}
		if l.LoginFailures > 0 {
			h.throttles.add(accountAddressKey(s, account), now, l.LoginFailures+1)
		}
		if l.AccountLoginFailures > 0 {
			// Enough past the cap to reach the longest delay.
			h.throttles.add(accountKey(account), now, l.AccountLoginFailures+64)
		}
	case ThrottleCreate, ThrottleCreateAttempt:
		if limit, _ := h.throttleLimit(kind); limit > 0 {
			h.throttles.add(addressKey(kind, s), now, limit+1)
		}
	}
}

// exemptAddress reports whether the session's address is in
// limits.exempt, which the per-address throttles do not apply to.
func (h *ServerSessionHandler) exemptAddress(s *ServerSession) bool {
	list := h.settings.Limits.Exempt
	if list == "" {
		return false
	}
	if list != h.exemptOf {
		h.exempt, _ = list.Parse() // Load checked it
		h.exemptOf = list
	}
	return h.exempt.Contains(s.Address)
}

// ClearThrottles lifts the throttles of target (an address, or an
// account name; every throttle when target is empty), as `portico limits
// clear` and @throttle/clear ask, and returns how many counters it
// cleared. The store forgets them with the next save.
func (h *ServerSessionHandler) ClearThrottles(target string) int {
	n := 0
	for key := range h.throttles.hits {
		if ThrottleKeyMatches(key, target) {
			h.throttles.reset(key)
			n++
		}
	}
	return n
}

// ThrottleKeyMatches reports whether the throttle counter key counts for
// target: an address (IPv4, IPv6, either with a port; an IPv6 address
// stands for its /64), an account name (any case), or "" for every one.
func ThrottleKeyMatches(key, target string) bool {
	target = strings.TrimSpace(target)
	if target == "" {
		return true
	}
	parts := strings.Split(key, "|")
	if len(parts) < 3 {
		return false
	}
	host := hostOf(target)
	if _, err := netip.ParseAddr(host); err == nil {
		addr := throttleAddress(target)
		return (parts[1] == "ip" || parts[1] == "acctip") && parts[2] == addr
	}
	name := throttleName(target)
	switch parts[1] {
	case "acct":
		return parts[2] == name
	case "acctip":
		return len(parts) == 4 && parts[3] == name
	}
	return false
}

// loginSucceeded clears the failures to account from the session's
// address: the owner who mistyped starts afresh there. The address's own
// count and the account's count everywhere stay, so that an attacker
// cannot wipe them by logging into an account of their own.
func (h *ServerSessionHandler) loginSucceeded(s *ServerSession, account string) {
	h.throttles.reset(accountAddressKey(s, account))
}

// AccountLoginDelay is how long a login to account must wait because the
// account is past limits.account_login_failures from all addresses
// together (0 when it is not): one second for the first failure past the
// cap, doubling with each further one, at most 30 s. Unknown names are
// counted and delayed alike, so the delay says nothing about whether an
// account exists.
func (h *ServerSessionHandler) AccountLoginDelay(account string) time.Duration {
	l := h.settings.Limits
	if l.AccountLoginFailures <= 0 || account == "" {
		return 0
	}
	over := h.throttles.count(accountKey(account), h.now(), l.AccountLoginFailureWindow) - l.AccountLoginFailures
	if over < 0 {
		return 0
	}
	return min(accountLoginDelayBase<<min(over, 16), accountLoginDelayMax)
}

func (h *ServerSessionHandler) throttleLimit(kind string) (int, time.Duration) {
	l := h.settings.Limits
	switch kind {
	case ThrottleLogin:
		return l.LoginFailures, l.LoginFailureWindow
	case ThrottleAccountLogin:
		return l.AccountLoginFailures, l.AccountLoginFailureWindow
	case ThrottleCreate:
		return l.AccountCreations, l.AccountCreationWindow
	case ThrottleCreateAttempt:
		return l.CreateAttempts, l.CreateAttemptWindow
	}
	return 0, 0
}

// throttleWindow is the window of a counter key, from its kind.
func (h *ServerSessionHandler) throttleWindow(key string) time.Duration {
	kind, _, _ := strings.Cut(key, "|")
	_, window := h.throttleLimit(kind)
	return window
}

// throttleSaveEvery is how often changed throttle counters are written
// to the store (off the loop), so that a crash loses at most this much.
const throttleSaveEvery = time.Second

// LoadThrottles reads the throttle counters kept in the store (by this
// host before a reload or a restart) and prunes the expired ones.
func (h *ServerSessionHandler) LoadThrottles(ctx context.Context) error {
	entries, err := h.store.LoadThrottles(ctx, h.now())
	if err != nil {
		return err
	}
	for _, e := range entries {
		if h.throttles.hits == nil {
			h.throttles.hits = map[string][]time.Time{}
		}
		h.throttles.hits[e.Key] = e.Hits
	}
	return nil
}

// throttleSnapshot takes the counters changed since the last snapshot
// (on the loop) for saveThrottles.
func (h *ServerSessionHandler) throttleSnapshot() []store.ThrottleEntry {
	if len(h.throttles.dirty) == 0 {
		return nil
	}
	out := make([]store.ThrottleEntry, 0, len(h.throttles.dirty))
	for key := range h.throttles.dirty {
		e := store.ThrottleEntry{Key: key}
		if hs := h.throttles.hits[key]; len(hs) > 0 {
			e.Hits = slices.Clone(hs)
			e.Expires = hs[len(hs)-1].Add(h.throttleWindow(key))
		}
		out = append(out, e)
	}
	h.throttles.dirty = nil
	return out
}

// saveThrottles writes a snapshot to the store; it runs off the loop.
func (h *ServerSessionHandler) saveThrottles(entries []store.ThrottleEntry) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.store.SaveThrottles(ctx, entries, h.now())
}

// flushThrottles starts writing the changed counters to the store unless
// a write is under way already; Run receives its result on
// throttleSaved (throttleSaveDone).
func (h *ServerSessionHandler) flushThrottles() {
	if h.throttleSaving != nil || len(h.throttles.dirty) == 0 || h.store == nil {
		return
	}
	entries := h.throttleSnapshot()
	h.throttleSaving = entries
	go func() { h.throttleSaved <- h.saveThrottles(entries) }()
}

// throttleSaveDone takes the result of the write flushThrottles started:
// a failed write marks its keys changed again, for the next tick.
func (h *ServerSessionHandler) throttleSaveDone(err error) {
	if err != nil {
		h.log.Error("throttles: save", "err", err)
		for _, e := range h.throttleSaving {
			h.throttles.markDirty(e.Key)
		}
	}
	h.throttleSaving = nil
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
	if s.cmdTokensAt == 0 {
		s.cmdTokens = float64(rate)
	} else {
		// A clock stepped back refills nothing rather than draining.
		since := max(0, now.Sub(time.Unix(0, s.cmdTokensAt)))
		s.cmdTokens = min(float64(rate), s.cmdTokens+since.Seconds()*float64(rate))
	}
	s.cmdTokensAt = now.UnixNano()
	if s.cmdTokens < 1 {
		return false
	}
	s.cmdTokens--
	return true
}
