package sessions

import (
	"log/slog"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
)

// BenchmarkAnnounceAll is announce_all to 10,000 sessions of one plugin:
// the host's share of a broadcast before the plugin's link (nopPortals).
func BenchmarkAnnounceAll(b *testing.B) {
	h := NewServerSessionHandler(Options{Log: slog.New(slog.DiscardHandler), Portals: nopPortals{}, Commands: answerCommands{}})
	for i := range 10000 {
		var d contract.SessionData
		d.InitSession("telnet", "127.0.0.1:1", time.Now())
		d.Sessid, d.LoggedIn, d.UID, d.UName = uint64(i+1), true, 7, "bench"
		h.sessions[d.Sessid] = h.newSession("telnet", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.AnnounceAll("fanout")
	}
}
