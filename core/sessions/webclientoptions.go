package sessions

// Where webclient_options live: on the account, as the account attribute
// webclient_options (a JSON object) in the game's attribute store
// (core/attrs: served from memory, written off the loop), as Evennia keeps
// _saved_webclient_options; before login, or in a handler with no
// attribute store, in the session's server_data.

import (
	"maps"

	"github.com/portico-mud/portico/core/attrs"
	"github.com/portico-mud/portico/sdk/contract"
)

// webclientOptionsKey is where the options are kept.
const webclientOptionsKey = "webclient_options"

// webclientOptions returns s's stored webclient options, a copy the
// caller may change: the account's once logged in, else the session's;
// the defaults when none were stored.
func (h *ServerSessionHandler) webclientOptions(s *ServerSession) map[string]any {
	if s.Account == nil || h.attrs == nil {
		if stored, _ := s.ServerData[webclientOptionsKey].(map[string]any); stored != nil {
			return maps.Clone(stored)
		}
		return maps.Clone(defaultWebclientOptions)
	}
	var stored map[string]any
	if _, err := h.attrs.Get(attrs.Account(s.Account.ID), webclientOptionsKey, &stored); err != nil {
		h.log.Error("webclient_options: load", "account", s.Account.Name, "err", err)
	}
	if stored == nil {
		return maps.Clone(defaultWebclientOptions)
	}
	return stored
}

// saveWebclientOptions stores opts for s (see webclientOptions) and sends
// them to the account's other sessions that asked for the options, as
// Evennia's monitor on the attribute does.
func (h *ServerSessionHandler) saveWebclientOptions(s *ServerSession, opts map[string]any) {
	if s.Account == nil || h.attrs == nil {
		s.ServerData[webclientOptionsKey] = opts
		h.SessionPortalPartialSync(s, contract.FieldServerData)
		return
	}
	if err := h.attrs.Set(attrs.Account(s.Account.ID), webclientOptionsKey, opts); err != nil {
		h.log.Error("webclient_options: save", "account", s.Account.Name, "err", err)
		s.Msg("Your webclient options could not be saved. Please try again later.")
		return
	}
	for _, o := range h.SessionsFromAccount(s.Account.ID) {
		if o != s && o.watchesWebclientOptions {
			o.Send(contract.Message{Name: "webclient_options", Kwargs: maps.Clone(opts)})
		}
	}
}
