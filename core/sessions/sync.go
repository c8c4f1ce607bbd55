package sessions

// Session data: pushing it to the plugins (Evennia's SSYNC senders), and
// every session's for whoever asks (get_all_sync_data).

import (
	"slices"

	"github.com/portico-mud/portico/sdk/contract"
)

// AllSessionsPortalSync is Evennia's all_sessions_portal_sync (SSYNC,
// clean): it pushes every session's data to its plugin, which drops its
// sessions the host does not know. Only saved logins are pushed. With
// fields, only those are pushed (all when none are named).
func (h *ServerSessionHandler) AllSessionsPortalSync(fields ...string) {
	all := h.sortedSessions()
	// Each plugin's list is made at its size and the data copied once,
	// into its place: a reload pushes ten thousand sessions, and growing
	// the lists by doubling copied them over and over.
	counts := map[string]int{}
	for _, s := range all {
		counts[s.Plugin]++
	}
	byPlugin := make(map[string][]contract.SessionData, len(counts))
	for plugin, n := range counts {
		byPlugin[plugin] = make([]contract.SessionData, 0, n)
	}
	noFlags := len(fields) > 0 && !slices.Contains(fields, contract.FieldProtocolFlags)
	for _, s := range all {
		list := append(byPlugin[s.Plugin], s.SessionData)
		d := &list[len(list)-1]
		if noFlags {
			// Not sent: skip copying and encoding the flags.
			d.ProtocolFlags = contract.Flags{}
		} else {
			*d = s.GetSyncData()
		}
		// Only a saved login is ever pushed (see portalData).
		s.told.apply(d)
		byPlugin[s.Plugin] = list
	}
	for plugin, list := range byPlugin {
		h.portals.Send(plugin, SyncAll{Sessions: list, Clean: true, Fields: fields})
	}
}

// GetAllSyncData is Evennia's get_all_sync_data: every session's sync data
// by session id, each a copy the caller may change. It is the host's own
// view: a login still being saved shows here already, while
// AllSessionsPortalSync pushes to the plugins only the logins saved.
func (h *ServerSessionHandler) GetAllSyncData() map[uint64]contract.SessionData {
	out := make(map[uint64]contract.SessionData, len(h.sessions))
	for id, s := range h.sessions {
		out[id] = s.GetSyncData()
	}
	return out
}

// ReloadSyncFields are the fields a reload pushes to the plugins: what the
// host owns. Protocol flags are left out: the plugins own them, and every
// change the host makes is synced when it is made.
var ReloadSyncFields = []string{contract.FieldUID, contract.FieldUName, contract.FieldLoggedIn,
	contract.FieldPUID, contract.FieldCmdLast, contract.FieldCmdLastVisible, contract.FieldCmdTotal,
	contract.FieldServerData, contract.FieldCmdsetStorageString}

// SessionPortalSync is Evennia's session_portal_sync (SSYNC): it pushes one
// session's whole data to its plugin.
func (h *ServerSessionHandler) SessionPortalSync(s *ServerSession) {
	h.sendSync(s, nil)
}

// SessionPortalPartialSync is Evennia's session_portal_partial_sync (SSYNC,
// clean=False): it pushes the named fields of s to its plugin, which keeps
// the others.
func (h *ServerSessionHandler) SessionPortalPartialSync(s *ServerSession, fields ...string) {
	h.sendSync(s, fields)
}

func (h *ServerSessionHandler) sendSync(s *ServerSession, fields []string) {
	if h.sessions[s.Sessid] != s {
		return
	}
	h.portals.Send(s.Plugin, SessionSync{Session: s.portalData(), Fields: fields})
}
