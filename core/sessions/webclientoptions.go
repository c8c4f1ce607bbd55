package sessions

// Where webclient_options live: on the account, as the account attribute
// webclient_options (a JSON object) in the store's attributes table, the
// same row the host API's attribute store (core/attrs) reads as
// attrs.Account(id), "webclient_options"; before login, in the session's
// server_data.

import (
	"encoding/json"
	"maps"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

// Where the options are kept.
const (
	webclientOptionsKey  = "webclient_options"
	accountAttributeKind = "account"
)

// webclientOptions returns s's stored webclient options, a copy the
// caller may change: the account's once logged in, else the session's;
// the defaults when none were stored.
func (h *ServerSessionHandler) webclientOptions(s *ServerSession) map[string]any {
	if s.Account == nil || h.store == nil {
		if stored, _ := s.ServerData[webclientOptionsKey].(map[string]any); stored != nil {
			return maps.Clone(stored)
		}
		return maps.Clone(defaultWebclientOptions)
	}
	attrs, err := h.store.Attributes(h.Context(), accountAttributeKind, s.Account.ID)
	if err != nil {
		h.log.Error("webclient_options: load", "account", s.Account.Name, "err", err)
		return maps.Clone(defaultWebclientOptions)
	}
	var stored map[string]any
	if raw, ok := attrs[webclientOptionsKey]; ok {
		if err := json.Unmarshal([]byte(raw), &stored); err != nil {
			h.log.Error("webclient_options: stored value is not a JSON object", "account", s.Account.Name, "err", err)
		}
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
	if s.Account == nil || h.store == nil {
		s.ServerData[webclientOptionsKey] = opts
		h.SessionPortalPartialSync(s, contract.FieldServerData)
		return
	}
	raw, err := json.Marshal(opts)
	if err != nil {
		h.log.Error("webclient_options: encode", "account", s.Account.Name, "err", err)
		return
	}
	if err := h.store.ApplyAttributes(h.Context(), []store.AttributeChange{{Kind: accountAttributeKind,
		ID: s.Account.ID, Key: webclientOptionsKey, Value: string(raw)}}); err != nil {
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
