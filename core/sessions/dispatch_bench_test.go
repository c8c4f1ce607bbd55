package sessions

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
)

type nopPortals struct{}

func (nopPortals) Send(string, Event)                {}
func (nopPortals) PluginFor(p string) (string, bool) { return p, true }
func (nopPortals) StartBot(context.Context, string, map[string]any) (uint64, error) {
	return 0, nil
}

type answerCommands struct{}

func (answerCommands) Execute(s *ServerSession, line string) { s.Msg("pong " + line) }

// BenchmarkInputfuncDispatch measures one line of text through
// DataIn → call_inputfuncs → the text inputfunc → a command that answers →
// data out, the host's share of every round trip.
func BenchmarkInputfuncDispatch(b *testing.B) {
	h := NewServerSessionHandler(Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Portals: nopPortals{}, Commands: answerCommands{}})
	var d contract.SessionData
	d.InitSession("telnet", "127.0.0.1:1", time.Now())
	d.Sessid = 1
	h.sessions[1] = h.newSession("telnet", d)
	msgs := []contract.Message{contract.Text("ping 1")}
	b.ReportAllocs()
	for b.Loop() {
		h.DataIn("telnet", 1, msgs)
	}
}

// BenchmarkReloadSync is the old image's push of every session's data to
// its plugin at a reload (AllSessionsPortalSync with ReloadSyncFields), for
// 10,000 logged-in sessions; the plugins' side is nopPortals, so it is the
// handler's part alone.
func BenchmarkReloadSync(b *testing.B) {
	h := loggedInHandler()
	b.ReportAllocs()
	for b.Loop() {
		h.AllSessionsPortalSync(ReloadSyncFields...)
	}
}

// BenchmarkAnnounceAll is announce_all to 10,000 sessions of one plugin:
// the host's share of a broadcast before the plugin's link (nopPortals).
func BenchmarkAnnounceAll(b *testing.B) {
	h := loggedInHandler()
	b.ReportAllocs()
	for b.Loop() {
		h.AnnounceAll("fanout")
	}
}

// loggedInHandler is a handler holding 10,000 logged-in telnet sessions,
// its plugins' side nopPortals.
func loggedInHandler() *ServerSessionHandler {
	h := NewServerSessionHandler(Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Portals: nopPortals{}, Commands: answerCommands{}})
	for i := range 10000 {
		var d contract.SessionData
		d.InitSession("telnet", "127.0.0.1:1", time.Now())
		d.Sessid, d.LoggedIn, d.UID, d.UName = uint64(i+1), true, 7, "bench"
		h.sessions[d.Sessid] = h.newSession("telnet", d)
	}
	return h
}

// BenchmarkReloadRestore is a new image's rebuild of 10,000 sessions a
// reattached plugin listed (PortalSessionsSync into an empty handler), not
// logged in, without a store: the handler's part alone.
func BenchmarkReloadRestore(b *testing.B) {
	all := make([]contract.SessionData, 10000)
	for i := range all {
		all[i].InitSession("telnet", "127.0.0.1:1", time.Now())
		all[i].Sessid = uint64(i + 1)
	}
	b.ReportAllocs()
	for b.Loop() {
		h := NewServerSessionHandler(Options{Log: slog.New(slog.DiscardHandler), Portals: nopPortals{}, Commands: answerCommands{}})
		h.PortalSessionsSync("telnet", all)
	}
}
