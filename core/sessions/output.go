package sessions

// Output to clients: Evennia's data_out, clean_senddata and announce_all,
// and the broadcast that sends one event per plugin.

import "github.com/portico-mud/portico/sdk/contract"

// AnnounceAll is Evennia's announce_all: it sends text to every session, as
// one frame per plugin naming its recipients, not one event per session.
func (h *ServerSessionHandler) AnnounceAll(text string) {
	h.Broadcast(h.sortedSessions(), contract.Text(text))
}

// Broadcast sends the same messages to many sessions, as one event per
// plugin.
func (h *ServerSessionHandler) Broadcast(targets []*ServerSession, msgs ...contract.Message) {
	byPlugin := map[string][]uint64{}
	var order []string
	for _, s := range targets {
		if h.sessions[s.Sessid] != s {
			continue
		}
		if _, ok := byPlugin[s.Plugin]; !ok {
			order = append(order, s.Plugin)
		}
		byPlugin[s.Plugin] = append(byPlugin[s.Plugin], s.Sessid)
	}
	for _, p := range order {
		h.portals.Send(p, DataOut{Sessids: byPlugin[p], Messages: msgs})
	}
}

// MsgOutputTooLarge tells a session that output meant for it was dropped:
// the link adapter sends it instead of a DataOut too large for the link
// (one oversized message must not break the link for every session of the
// plugin, Evennia's #1636).
const MsgOutputTooLarge = "(The server tried to send you more at once than it may; that output was dropped.)"

// DataOut is Evennia's data_out: it sends Evennia-style send data (text=...,
// prompt=..., options=...) to s through CleanSendData.
func (h *ServerSessionHandler) DataOut(s *ServerSession, data map[string]any) {
	msgs := h.CleanSendData(s, data)
	h.SendMessages(s, msgs...)
}

// SendMessages sends clean messages to s.
func (h *ServerSessionHandler) SendMessages(s *ServerSession, msgs ...contract.Message) {
	if len(msgs) == 0 || h.sessions[s.Sessid] != s {
		return
	}
	h.portals.Send(s.Plugin, DataOut{Sessids: []uint64{s.Sessid}, Messages: msgs})
}

// CleanSendData is Evennia's clean_senddata: it normalises send data for s
// into messages, in s's encoding.
func (h *ServerSessionHandler) CleanSendData(s *ServerSession, data map[string]any) []contract.Message {
	msgs, bad := contract.CleanSendData(data, s.Encoding())
	if bad {
		h.log.Warn("clean_senddata: bad encoding in output", "sessid", s.Sessid)
	}
	return msgs
}
