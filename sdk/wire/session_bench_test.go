package wire

import (
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"google.golang.org/protobuf/proto"
)

// telnetSession is a logged-in telnet session as a reload moves it: the
// flags a negotiated client has, a login, server data.
func telnetSession() contract.SessionData {
	var d contract.SessionData
	d.InitSession("telnet", "127.0.0.1:50000", time.Now())
	d.Sessid, d.LoggedIn, d.UID, d.UName, d.PUID = 42, true, 7, "bench", 8
	d.CmdsetStorageString = "account"
	d.ProtocolFlags.SetAll(map[string]any{
		contract.FlagNoGoAhead: true, contract.FlagNoPromptGoAhead: true, contract.FlagScreenWidth: 78,
		contract.FlagScreenHeight: 45, contract.FlagForcedEndLine: true, contract.FlagTTYPE: true,
		contract.FlagANSI: true, contract.FlagMCCP: false, contract.FlagOOB: false, contract.FlagMXP: false,
		contract.FlagClientName: "UNKNOWN", contract.FlagXterm256: false, contract.FlagUTF8: true,
	})
	return d
}

// BenchmarkSessionsAnswer is one session of a reattach's Sessions answer:
// to the wire on the plugin, marshalled, unmarshalled and back on the host.
func BenchmarkSessionsAnswer(b *testing.B) {
	d := telnetSession()
	b.ReportAllocs()
	for b.Loop() {
		pd, err := SessionToPB(d)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := proto.Marshal(pd)
		if err != nil {
			b.Fatal(err)
		}
		var back portalpb.SessionData
		if err := proto.Unmarshal(raw, &back); err != nil {
			b.Fatal(err)
		}
		if _, err := SessionFromPB(&back); err != nil {
			b.Fatal(err)
		}
	}
}
