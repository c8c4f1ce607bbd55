package sessions

// Output to clients: Evennia's data_out, clean_senddata and announce_all,
// and the broadcast that sends one event per plugin.

import (
	"cmp"
	"slices"

	"github.com/portico-mud/portico/sdk/contract"
)

// AnnounceAll is Evennia's announce_all: it sends text to every session, as
// one frame per plugin naming its recipients, not one event per session.
func (h *ServerSessionHandler) AnnounceAll(text string) {
	h.broadcastAll(contract.Text(text))
}

// broadcastAll is Broadcast to every session, with what Broadcast over
// sortedSessions would send: per plugin, its sessions' ids in order; the
// plugins in the order of their first session. The ids are gathered from
// the sessions map into lists made at their size and sorted as numbers:
// sorting the sessions themselves reads a record scattered in memory at
// every comparison, most of a broadcast's cost on the host at 10,000.
func (h *ServerSessionHandler) broadcastAll(msgs ...contract.Message) {
	counts := map[string]int{}
	for _, s := range h.sessions {
		counts[s.Plugin]++
	}
	byPlugin := make(map[string][]uint64, len(counts))
	order := make([]string, 0, len(counts))
	for p, n := range counts {
		byPlugin[p] = make([]uint64, 0, n)
		order = append(order, p)
	}
	for id, s := range h.sessions {
		byPlugin[s.Plugin] = append(byPlugin[s.Plugin], id)
	}
	for _, ids := range byPlugin {
		slices.Sort(ids)
	}
	slices.SortFunc(order, func(a, b string) int { return cmp.Compare(byPlugin[a][0], byPlugin[b][0]) })
	for _, p := range order {
		h.portals.Send(p, DataOut{Sessids: byPlugin[p], Messages: msgs})
	}
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
		ids, ok := byPlugin[s.Plugin]
		if !ok {
			if len(order) == 0 {
				// Room for every target in the first plugin's list: most
				// broadcasts (a reload's restore, 10,000 at once) go to one.
				ids = make([]uint64, 0, len(targets))
			}
			order = append(order, s.Plugin)
		}
		byPlugin[s.Plugin] = append(ids, s.Sessid)
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
