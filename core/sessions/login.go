package sessions

// Logging a session in: Evennia's login and at_post_login, and the
// password login of an unlogged-in session.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

// Login is Evennia's login, of s as acc: at_login, the multisession
// rule (mode 0 disconnects the account's other sessions), SLOGIN to the
// plugin, then the account's character is puppeted. force skips nothing here
// yet; it marks logins the server makes itself (SSH keys, bots).
func (h *ServerSessionHandler) Login(s *ServerSession, acc store.Account, force bool) {
	_ = force
	if b, banned := h.bannedAccount(acc.Name); banned {
		h.log.Info("banned account refused", "account", acc.Name, "ban", b.Value)
		s.Msg(MsgBanned)
		h.Disconnect(s, ReasonBanned, true)
		return
	}
	s.AtLogin(acc)
	// A one-shot command (`ssh host who`) is no second login: it must not
	// log the player's open sessions out.
	if h.settings.MultisessionMode == 0 && !s.OneShot() {
		h.DisconnectDuplicateSessions(s, ReasonDuplicate)
	}
	// Auto-puppet the account's character (Evennia's AUTO_PUPPET_ON_LOGIN),
	// unless in mode 2 another of the account's sessions acts it already:
	// then the new session stays OOC and picks one with ic.
	if acc.CharacterID != 0 {
		if ch, err := h.store.CharacterByID(context.Background(), acc.CharacterID); err == nil {
			if h.settings.MultisessionMode != 2 || len(h.SessionsFromPuppet(ch.ID)) == 0 {
				s.Puppet = &ch
				s.PUID = ch.ID
			}
		} else {
			h.log.Warn("login: character not found", "account", acc.Name, "character", acc.CharacterID, "err", err)
		}
	}
	// The plugin is told (SLOGIN), and at_post_login runs, once the login
	// is saved; the session's input waits until then.
	s.busy++
	h.saveLogin(s, func(saved loginView, err error) {
		defer h.release(s)
		if h.sessions[s.Sessid] != s {
			return
		}
		if err != nil {
			h.log.Error("login not saved; disconnecting the session", "account", acc.Name, "sessid", s.Sessid, "err", err)
			h.Disconnect(s, MsgLoginNotSaved, true)
			return
		}
		h.finishLogin(s, acc, saved)
	})
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
	h.CheckMonitors(s)
}

// LoginWithPassword checks name and password off the loop and logs s in,
// or tells the client Evennia's "Username and/or password is incorrect.".
// s's further input waits until the check is done. The throttles are
// checked before the password (a throttled guesser learns nothing and
// spends no hashing); an account past its cap across all addresses makes
// the check wait first (AccountLoginDelay).
func (h *ServerSessionHandler) LoginWithPassword(s *ServerSession, name, password string) {
	name = strings.TrimSpace(name)
	check := func() {
		if h.Throttled(ThrottleLogin, s, name) {
			h.log.Warn("login throttled", "name", name, "address", s.Address)
			h.Meter().Login(LoginThrottled)
			h.Meter().Throttled(ThrottleLogin)
			s.Msg(MsgLoginThrottled)
			return
		}
		h.Async(s, func() func() {
			acc, err := h.store.Authenticate(context.Background(), name, password)
			return func() {
				if h.sessions[s.Sessid] != s {
					return
				}
				if err != nil && !errors.Is(err, store.ErrBadCredentials) {
					h.loginUnavailable(s, "login", name, err)
					return
				}
				if err != nil {
					h.log.Info("login failed", "name", name, "address", s.Address)
					h.Meter().Login(LoginFailed)
					h.ThrottleHit(ThrottleLogin, s, name)
					s.Msg(MsgBadLogin)
					return
				}
				if s.LoggedIn {
					return
				}
				h.loginSucceeded(s, name)
				h.Meter().Login(LoginOK)
				h.Login(s, acc, false)
			}
		})
	}
	h.delayLogin(s, name, check)
}

// loginUnavailable answers a login the store could not check. It is not
// counted against the login throttle: a database outage must not lock every
// player out once it is over.
func (h *ServerSessionHandler) loginUnavailable(s *ServerSession, where, name string, err error) {
	h.log.Error(where+": authenticate", "name", name, "err", err)
	h.Meter().Login(LoginUnavailable)
	s.Msg(MsgLoginUnavailable)
}

// delayLogin runs check now, or after AccountLoginDelay(name) when the
// account is past its cap; the session's input waits meanwhile.
func (h *ServerSessionHandler) delayLogin(s *ServerSession, name string, check func()) {
	if h.Throttled(ThrottleLogin, s, name) {
		check() // refused at once: no reason to wait
		return
	}
	d := h.AccountLoginDelay(name)
	if d <= 0 {
		check()
		return
	}
	h.log.Warn("login delayed: the account is past its failure cap", "name", name, "address", s.Address, "delay", d)
	h.delayThen(s, d, check)
}
