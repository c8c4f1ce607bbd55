package sessions

import (
	"fmt"

	"github.com/portico-mud/portico/core/store"
)

// maxSessionsPerPuppet bounds how many sessions may share one character
// (Evennia's limit in modes 1 and 3).
const maxSessionsPerPuppet = 16

// Puppet makes s control character ch (Evennia's puppet_object), with the
// multisession mode's rules:
//   - 0 and 1: every session of the account shares its character;
//   - 2: one session per character: another of the account's sessions
//     puppeting it is taken over (it is told, and goes OOC);
//   - 3: sessions may share a character, and are told so.
//
// It returns the message for the player, or an error naming why not.
func (h *ServerSessionHandler) Puppet(s *ServerSession, ch store.Character) (string, error) {
	if s.Account == nil || ch.AccountID != s.Account.ID {
		return "", fmt.Errorf("That is not a valid character choice.")
	}
	if s.PUID == ch.ID {
		return "", fmt.Errorf("You are already puppeting %s.", ch.Name)
	}
	others := h.SessionsFromPuppet(ch.ID)
	msg := fmt.Sprintf("You become %s.", ch.Name)
	switch h.settings.MultisessionMode {
	case 2:
		for _, o := range others {
			if o == s {
				continue
			}
			h.unpuppet(o)
			o.Msg(fmt.Sprintf("%s is now acted from another of your sessions.", ch.Name))
			h.CheckMonitors(o)
		}
		if len(others) > 0 {
			msg = fmt.Sprintf("Taking over %s from another of your sessions.", ch.Name)
		}
	default:
		if len(others) >= maxSessionsPerPuppet {
			return "", fmt.Errorf("%s is already puppeted by %d sessions, the most there may be.", ch.Name, maxSessionsPerPuppet)
		}
		if len(others) > 0 && h.settings.MultisessionMode == 3 {
			msg = fmt.Sprintf("Sharing %s with another of your sessions.", ch.Name)
		}
	}
	c := ch
	s.Puppet, s.PUID = &c, ch.ID
	h.savePuppet(s)
	return msg, nil
}

// Unpuppet makes s stop controlling its character (Evennia's ooc).
func (h *ServerSessionHandler) Unpuppet(s *ServerSession) bool {
	if s.Puppet == nil {
		return false
	}
	h.unpuppet(s)
	return true
}

func (h *ServerSessionHandler) unpuppet(s *ServerSession) {
	s.Puppet, s.PUID = nil, 0
	h.savePuppet(s)
}
