package sessions

// Bans of accounts and addresses, and booting a session.

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/portico-mud/portico/core/store"
)

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
