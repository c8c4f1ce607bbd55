package sessions

// Pushing session data to the plugins (Evennia's SSYNC senders).

import (
	"slices"

	"github.com/portico-mud/portico/sdk/contract"
)

// AllSessionsPortalSync pushes every session's data to its plugin, dropping
// plugin sessions the host does not know (SSYNC, clean). With fields, only
// those are pushed (all when none are named).
func (h *ServerSessionHandler) AllSessionsPortalSync(fields ...string) {
	byPlugin := map[string][]contract.SessionData{}
	for _, s := range h.sortedSessions() {
		d := s.SessionData
		if len(fields) > 0 && !slices.Contains(fields, contract.FieldProtocolFlags) {
			// Not sent: skip copying and encoding the flags.
			d.ProtocolFlags = nil
		} else {
			d = s.GetSyncData()
		}
		// Only a saved login is ever pushed (see portalData).
		s.told.apply(&d)
		byPlugin[s.Plugin] = append(byPlugin[s.Plugin], d)
	}
	for plugin, list := range byPlugin {
		h.portals.Send(plugin, SyncAll{Sessions: list, Clean: true, Fields: fields})
	}
}

// ReloadSyncFields are the fields a reload pushes to the plugins: what the
// host owns. Protocol flags are left out: the plugins own them, and every
// change the host makes is synced when it is made.
var ReloadSyncFields = []string{contract.FieldUID, contract.FieldUName, contract.FieldLoggedIn,
	contract.FieldPUID, contract.FieldCmdLast, contract.FieldCmdLastVisible, contract.FieldCmdTotal,
	contract.FieldServerData, contract.FieldCmdsetStorageString}

// SessionPortalSync pushes one session's whole data to its plugin (SSYNC).
func (h *ServerSessionHandler) SessionPortalSync(s *ServerSession) {
	h.sendSync(s, nil)
}

// SessionPortalPartialSync pushes the named fields of s to its plugin.
func (h *ServerSessionHandler) SessionPortalPartialSync(s *ServerSession, fields ...string) {
	h.sendSync(s, fields)
}

func (h *ServerSessionHandler) sendSync(s *ServerSession, fields []string) {
	if h.sessions[s.Sessid] != s {
		return
	}
	h.portals.Send(s.Plugin, SessionSync{Session: s.portalData(), Fields: fields})
}
