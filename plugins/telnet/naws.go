package main

import (
	"encoding/binary"

	"github.com/portico-mud/portico/sdk/contract"
)

// NAWS (RFC 1073): a client that agrees reports its window size at once and
// again on every resize, as IAC SB NAWS width16 height16 IAC SE.

// nawsState is the progress of one connection's NAWS.
type nawsState struct {
	// awaiting is set from the client's WILL NAWS until its first report:
	// negotiation is not finished before the size is known.
	awaiting bool
	// width and height are the last size reported, to sync changes only.
	width, height uint16
}

func (s *nawsState) pending() bool { return s.awaiting }

// changed records that the client will (or will no longer) report its size.
// AUTORESIZE says that later resizes will reach the game by themselves.
func (s *nawsState) changed(n *negotiation, on bool) {
	s.awaiting = on
	n.setFlags(map[string]any{flagAutoResize: on})
}

// subneg reads one size report. A zero dimension means "unknown" in
// RFC 1073, so it leaves that dimension as it was. Reports repeating the
// current size change nothing and sync nothing.
func (s *nawsState) subneg(n *negotiation, payload []byte) {
	if len(payload) != 4 {
		return
	}
	s.awaiting = false
	w := binary.BigEndian.Uint16(payload[0:2])
	h := binary.BigEndian.Uint16(payload[2:4])
	f := map[string]any{}
	if w != 0 && w != s.width {
		s.width = w
		f[contract.FlagScreenWidth] = int(w)
	}
	if h != 0 && h != s.height {
		s.height = h
		f[contract.FlagScreenHeight] = int(h)
	}
	n.setFlags(f)
}
