// Package plugintest is the conformance kit for Portico protocol plugins: a
// fake host that a plugin author runs from their own `go test` to check that
// their plugin keeps the portal session contract, without a Portico host,
// a database or a game.
//
// Describe the plugin in a Suite and call Run:
//
//	func TestConformance(t *testing.T) {
//		plugintest.Run(t, plugintest.Suite{
//			Binary:      plugintest.Build(t, ".", "echo"), // or New: func() sdk.Plugin { return &Plugin{} }
//			Config:      func(addr string) map[string]any { return map[string]any{"listen": addr} },
//			Dial:        plugintest.DialTCP,
//			ProtocolKey: "echo",
//		})
//	}
//
// With Binary the kit launches the executable through go-plugin exactly as
// the host does (handshake, contract versions, unix socket, environment);
// with New it serves the plugin in the test's process behind sdk.NewServer
// over an in-memory gRPC connection, which is faster and lets the race
// detector see the plugin. Run both: RunBoth does, given New.
//
// Run checks, each on a fresh instance of the plugin: Configure (and the
// same answer again on a reattach), a bad config refused, Validate (a good
// block passes without anything started, a taken address and a bad block
// are reported), new host facts taken in place or answered with a restart
// needed, a client's
// Connect, input in order, output to one session and to several in one
// event, the client hanging up, the host disconnecting one session and all
// of them, login and sync from the host, session ids from the host's
// blocks (asking for more when low), the host's per-address connection
// limit, StartBot, a planned host reload
// (Detach, a new connection, Sessions, input typed meanwhile delivered on
// the new link; through a client, or a bot and its peer), a lost host (clients told, input held, a new host within
// the grace period takes over), the grace period running out (clients
// told and closed, the plugin exits), Shutdown, and, for a binary, a clear
// refusal by a host that speaks another contract version and the link's
// sockets (launched with umask 000: owner-only where the host said, removed
// when the plugin exits), and the data socket (linked over, as the host
// does unless Suite.StreamLink; pings answered; a wrong secret refused).
//
// Host is the fake host itself, exported so that a plugin's own tests can
// check protocol-specific behaviour through the contract (a telnet
// plugin's NAWS sync, say) with the same machinery.
//
// The package must not import the host (core) or the command line (cmd):
// it stands in for them.
package plugintest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/launch"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultTimeout bounds every wait of a check unless Suite.Timeout says
// otherwise.
const DefaultTimeout = 10 * time.Second

// Suite describes the plugin under test.
type Suite struct {
	// Binary is the plugin executable, launched through go-plugin as the
	// host launches it (see Build). Set exactly one of Binary and New.
	Binary string
	// New returns a fresh plugin to serve in process.
	New func() sdk.Plugin
	// Config returns the plugin's config block (plugins.<name>.config) for
	// a plugin that listens on addr, a free loopback address the kit
	// picked. Nil gives an empty block.
	Config func(addr string) map[string]any
	// Dial opens a client connection to the plugin at addr. Nil for a
	// plugin without clients of its own (a bridge bot): the checks that
	// need a client are skipped.
	Dial Dialer
	// ProtocolKey is the protocol key the plugin must answer Configure
	// with and give its sessions; empty accepts any non-empty key.
	ProtocolKey string
	// BadConfig, when set, is a config block Configure must refuse with
	// InvalidArgument (a typo'd key, say).
	BadConfig map[string]any
	// Bot, when set, describes a bot session for the StartBot check. Nil
	// means the plugin starts no bots: StartBot must answer Unimplemented.
	Bot func(t testing.TB) Bot
	// Skip names checks not to run, each with the reason (logged).
	Skip map[string]string
	// Timeout bounds every wait (default DefaultTimeout).
	Timeout time.Duration
	// StreamLink makes the kit's host link over the Link stream even when
	// the plugin offers a data socket, as a host built before the data
	// socket does: the plugin must serve both.
	StreamLink bool
}

// Bot is a bot session for the StartBot check.
type Bot struct {
	// Config is the bot's config dict, as the host stores it.
	Config map[string]any
	// Peer, when set, is the far side the bot bridges to (a user in the
	// IRC channel, say): output to the bot's session must reach it, and
	// what it sends must come in as the session's input (the input's text
	// must contain the line sent). For a suite without Dial, the Reattach
	// and HostLost checks talk through a bot and its peer too; Bot is then
	// called once per check, and each call must give a fresh peer.
	Peer Client
	// Output, when set, is the name of the output message the bot relays
	// to its peer: a bridge bot relays the host's game channel messages
	// ("channel", the line its first argument) and drops "text", as
	// Evennia's bots do. The kit's output to the bot's session is then
	// that message; and since the bot drops the host-lost notice (a
	// "text"), HostLost learns that the plugin noticed the lost host from
	// its log instead. Empty sends "text", as to a client.
	Output string
}

// check is one conformance check.
type check struct {
	name string
	// client is set when the check needs Suite.Dial.
	client bool
	run    func(t *testing.T, s Suite)
}

// checks lists every check in the order Run runs them.
var checks = []check{
	{"Configure", false, checkConfigure},
	{"BadConfig", false, checkBadConfig},
	{"Validate", false, checkValidate},
	{"Reconfigure", false, checkReconfigure},
	{"ConnectAndData", true, checkConnectAndData},
	{"InputOrder", true, checkInputOrder},
	{"Broadcast", true, checkBroadcast},
	{"ClientHangsUp", true, checkClientHangsUp},
	{"HostDisconnects", true, checkHostDisconnects},
	{"DisconnectAll", true, checkDisconnectAll},
	{"LoginAndSync", true, checkLoginAndSync},
	{"SessionIDs", true, checkSessionIDs},
	{"ConnectionLimit", true, checkConnectionLimit},
	{"StartBot", false, checkStartBot},
	{"Reattach", false, checkReattach},
	{"HostLost", false, checkHostLost},
	{"HostNotBack", false, checkHostNotBack},
	{"Shutdown", false, checkShutdown},
	{"VersionMismatch", false, checkVersionMismatch},
	{"Socket", false, checkSocket},
	{"DataLink", false, checkDataLink},
}

// Checks returns the names of Run's checks, for Suite.Skip.
func Checks() []string {
	out := make([]string, len(checks))
	for i, c := range checks {
		out[i] = c.name
	}
	return out
}

// Run runs every conformance check against the plugin s describes, each
// as a subtest on a fresh instance of the plugin.
func Run(t *testing.T, s Suite) {
	t.Helper()
	if (s.Binary == "") == (s.New == nil) {
		t.Fatal("plugintest: set exactly one of Suite.Binary and Suite.New")
	}
	for name := range s.Skip {
		if !slices.Contains(Checks(), name) {
			t.Fatalf("plugintest: Suite.Skip names %q, which is not a check (checks: %s)", name, strings.Join(Checks(), ", "))
		}
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if reason, ok := s.Skip[c.name]; ok {
				t.Skip(reason)
			}
			if c.client && s.Dial == nil {
				t.Skip("no Suite.Dial: the plugin has no clients of its own")
			}
			c.run(t, s)
		})
	}
}

// RunBoth runs the kit twice, as the subtests InProcess and Binary: on the
// plugins s.New returns, served in the test's process where the race
// detector sees them, and on the plugin built from the package in dir as
// name (see Build) and launched through go-plugin as the host launches
// it. -short skips the build and Binary.
func RunBoth(t *testing.T, s Suite, dir, name string) {
	t.Helper()
	if s.New == nil || s.Binary != "" {
		t.Fatal("plugintest: RunBoth takes a Suite with New set and no Binary")
	}
	t.Run("InProcess", func(t *testing.T) { Run(t, s) })
	t.Run("Binary", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds the plugin")
		}
		b := s
		b.New = nil
		b.Binary = Build(t, dir, name)
		Run(t, b)
	})
}

func (s Suite) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

// expect fails t unless c receives substr in time.
func expect(t *testing.T, s Suite, c Client, substr string) {
	t.Helper()
	if err := c.Expect(substr, s.timeout()); err != nil {
		t.Fatal(err)
	}
}

func expectClosed(t *testing.T, s Suite, c Client, why string) {
	t.Helper()
	if err := c.ExpectClosed(s.timeout()); err != nil {
		t.Fatalf("%s: %v", why, err)
	}
}

func send(t *testing.T, c Client, line string) {
	t.Helper()
	if err := c.Send(line); err != nil {
		t.Fatal(err)
	}
}

// connect dials a client and waits for its session's Connect, checking
// what every new session must carry. It returns the client and session id.
func connect(t *testing.T, h *Host) (Client, uint64) {
	t.Helper()
	c := h.Dial()
	ev := h.AwaitConnect()
	d, err := wire.SessionFromPB(ev.GetSession())
	if err != nil {
		t.Fatalf("Connect carries undecodable session data: %v", err)
	}
	if !h.Granted(d.Sessid) {
		t.Fatalf("Connect: session id %d is not from a block the host granted (use Portal.NewSession)", d.Sessid)
	}
	want := h.s.ProtocolKey
	if want == "" {
		want = h.Info().GetProtocolKey()
	}
	if d.ProtocolKey != want {
		t.Errorf("Connect: protocol_key %q, want %q", d.ProtocolKey, want)
	}
	if d.Address == "" {
		t.Error("Connect: the session has no address")
	}
	if d.ConnTime.IsZero() {
		t.Error("Connect: the session has no conn_time (use Portal.NewSession, which sets it)")
	}
	if d.LoggedIn {
		t.Error("Connect: a new client's session is already logged in")
	}
	return c, d.Sessid
}

func checkConfigure(t *testing.T, s Suite) {
	h := Start(t, s)
	key := h.Info().GetProtocolKey()
	if key == "" {
		t.Fatal("Configure answered no protocol key")
	}
	if s.ProtocolKey != "" && key != s.ProtocolKey {
		t.Fatalf("Configure answered protocol key %q, want %q", key, s.ProtocolKey)
	}
	// A host that reattaches configures again: the plugin must answer the
	// same without starting a second time (a second listen would fail).
	again, err := h.Configure(h.cfg)
	if err != nil {
		t.Fatalf("Configure a second time (a reattaching host): %v", err)
	}
	if again.GetProtocolKey() != key || !slices.Equal(again.GetCapabilities(), h.Info().GetCapabilities()) {
		t.Fatalf("Configure answered %v the second time, %v the first", again, h.Info())
	}
	if s.Dial != nil {
		connect(t, h)
	}
}

func checkBadConfig(t *testing.T, s Suite) {
	if s.BadConfig == nil {
		t.Skip("no Suite.BadConfig")
	}
	h := Launch(t, s, HostOptions{})
	_, err := h.Configure(s.BadConfig)
	if err == nil {
		t.Fatalf("Configure accepted the bad config %v", s.BadConfig)
	}
	st, _ := status.FromError(err)
	if st.Code() != codes.InvalidArgument || st.Message() == "" {
		t.Fatalf("Configure refused the bad config with %v, want InvalidArgument and a message naming the key", err)
	}
	t.Logf("the plugin says: %s", st.Message())
}

// checkValidate: Validate passes the suite's block without starting
// anything (its address stays free, and Configure works afterwards),
// reports a taken address unless the running plugin holds it, and reports
// the bad block's problems.
func checkValidate(t *testing.T, s Suite) {
	h := Launch(t, s, HostOptions{})
	resp, err := h.Validate(h.cfg)
	if status.Code(err) == codes.Unimplemented {
		t.Fatalf("Validate answered Unimplemented: implement sdk.Validator, so that the host can check the plugin's config before it starts it and before a live edit (%v)", err)
	}
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if len(resp.GetProblems()) != 0 {
		t.Fatalf("Validate found problems in the suite's config %v: %v", h.cfg, resp.GetProblems())
	}
	if h.Addr() != "" {
		// Nothing was left listening.
		ln, err := net.Listen("tcp", h.Addr())
		if err != nil {
			t.Fatalf("after Validate, %s is not free: %v", h.Addr(), err)
		}
		// Taken by another process: a problem naming the address.
		resp, err = h.Validate(h.cfg)
		if err != nil {
			ln.Close()
			t.Fatal(err)
		}
		found := false
		for _, p := range resp.GetProblems() {
			found = found || (p.GetKey() != "" && strings.Contains(p.GetMessage(), h.Addr()) && strings.Contains(p.GetMessage(), "in use"))
		}
		if !found {
			ln.Close()
			t.Fatalf("Validate of a config whose address %s is taken: %v, want a problem naming the key and the address in use (sdk.Config.CheckListen)", h.Addr(), resp.GetProblems())
		}
		// Held by the running plugin itself (a live edit): no problem.
		resp, err = h.Validate(h.cfg, h.Addr())
		ln.Close()
		if err != nil || len(resp.GetProblems()) != 0 {
			t.Fatalf("Validate with the address held by the running plugin: %v, %v; want no problem", resp.GetProblems(), err)
		}
	}
	if s.BadConfig != nil {
		resp, err := h.Validate(s.BadConfig)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetProblems()) == 0 {
			t.Fatalf("Validate passed the bad config %v", s.BadConfig)
		}
		for _, p := range resp.GetProblems() {
			if p.GetMessage() == "" {
				t.Fatalf("a problem without a message: %v", p)
			}
			t.Logf("the plugin says: %s: %s", p.GetKey(), p.GetMessage())
		}
	}
	if _, err := h.Configure(h.cfg); err != nil {
		t.Fatalf("Configure after Validate: %v", err)
	}
	h.OpenLink()
	if s.Dial != nil {
		connect(t, h)
	}
}

// checkReconfigure: a second Configure with new host facts (a live edit
// of the host's limits) is applied in place or answered with a restart
// needed, never refused; applied, the plugin's clients carry on.
func checkReconfigure(t *testing.T, s Suite) {
	h := Start(t, s)
	var c Client
	var id uint64
	if s.Dial != nil {
		c, id = connect(t, h)
	}
	resp, err := h.ConfigureHost(h.cfg, func(hi *portalpb.HostInfo) {
		hi.SessidCount = 0
		hi.MaxInputLength = 4000
		hi.ServerName = "PluginTest Renamed"
	})
	if err != nil {
		t.Fatalf("Configure with new host facts: %v", err)
	}
	switch resp.GetReconfigured() {
	case portalpb.Reconfigured_RECONFIGURED_APPLIED:
	case portalpb.Reconfigured_RECONFIGURED_RESTART_NEEDED:
		t.Logf("the plugin needs a restart for new host facts: %s", resp.GetRestartReason())
		return
	default:
		t.Fatalf("Configure with new host facts answered %v, want APPLIED or RESTART_NEEDED", resp.GetReconfigured())
	}
	if resp.GetProtocolKey() == "" {
		t.Fatal("the reconfigured plugin answered no protocol key")
	}
	if c != nil {
		send(t, c, "plugintest: after reconfigure")
		h.AwaitText(id, "plugintest: after reconfigure")
	}
	again, err := h.ConfigureHost(h.cfg, func(hi *portalpb.HostInfo) {
		hi.SessidCount = 0
		hi.MaxInputLength = 4000
		hi.ServerName = "PluginTest Renamed"
	})
	if err != nil || again.GetReconfigured() != portalpb.Reconfigured_RECONFIGURED_UNCHANGED {
		t.Fatalf("the same Configure again answered %v, %v; want UNCHANGED", again.GetReconfigured(), err)
	}
}

func checkConnectAndData(t *testing.T, s Suite) {
	h := Start(t, s)
	c, id := connect(t, h)
	send(t, c, "plugintest: hello")
	h.AwaitText(id, "plugintest: hello")
	h.DataOut("plugintest: hello to you", id)
	expect(t, s, c, "plugintest: hello to you")
	if _, ok := h.Session(id); !ok {
		t.Fatalf("Sessions does not list connected session %d", id)
	}
}

func checkInputOrder(t *testing.T, s Suite) {
	h := Start(t, s)
	c, id := connect(t, h)
	const n = 50
	var want []string
	for i := range n {
		line := fmt.Sprintf("plugintest: line %02d", i)
		want = append(want, line)
		send(t, c, line)
	}
	var got []string
	for len(got) < n {
		for _, m := range h.AwaitInput(id) {
			if text, ok := m.FirstString(); ok && m.Name == "text" {
				got = append(got, text)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("input arrived as\n%q\nwant\n%q", got, want)
	}
}

func checkBroadcast(t *testing.T, s Suite) {
	h := Start(t, s)
	a, idA := connect(t, h)
	b, idB := connect(t, h)
	h.DataOut("plugintest: to everyone", idA, idB)
	expect(t, s, a, "plugintest: to everyone")
	expect(t, s, b, "plugintest: to everyone")
}

func checkClientHangsUp(t *testing.T, s Suite) {
	h := Start(t, s)
	c, id := connect(t, h)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	h.AwaitDisconnected(id)
	if _, ok := h.Session(id); ok {
		t.Fatalf("Sessions still lists session %d after its client hung up", id)
	}
}

func checkHostDisconnects(t *testing.T, s Suite) {
	h := Start(t, s)
	c, id := connect(t, h)
	other, otherID := connect(t, h)
	h.Disconnect(id, "plugintest: you are disconnected")
	expect(t, s, c, "plugintest: you are disconnected")
	expectClosed(t, s, c, "the host disconnected the session")
	if _, ok := h.Session(id); ok {
		t.Fatalf("Sessions still lists session %d after the host disconnected it", id)
	}
	// The other session is untouched.
	h.DataOut("plugintest: still here", otherID)
	expect(t, s, other, "plugintest: still here")
}

func checkDisconnectAll(t *testing.T, s Suite) {
	h := Start(t, s)
	a, _ := connect(t, h)
	b, _ := connect(t, h)
	h.Send(&portalpb.Event{Kind: &portalpb.Event_DisconnectAll{DisconnectAll: &portalpb.DisconnectAll{Reason: "plugintest: everyone out"}}})
	for _, c := range []Client{a, b} {
		expect(t, s, c, "plugintest: everyone out")
		expectClosed(t, s, c, "DisconnectAll")
	}
	if n := len(h.Sessions()); n != 0 {
		t.Fatalf("Sessions lists %d sessions after DisconnectAll", n)
	}
}

func checkLoginAndSync(t *testing.T, s Suite) {
	h := Start(t, s)
	c, id := connect(t, h)
	before, ok := h.Session(id)
	if !ok {
		t.Fatalf("Sessions does not list session %d", id)
	}
	pd, err := wire.SessionToPB(contract.SessionData{Sessid: id, ProtocolFlags: contract.FlagsOf(map[string]any{"PLUGINTEST": "synced"})})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := wire.MessagesToPB([]contract.Message{contract.Text("plugintest: after login and sync")})
	if err != nil {
		t.Fatal(err)
	}
	// Events are applied in order: once the client has the output that
	// follows them, the login and the sync are in the session's data.
	h.Send(
		&portalpb.Event{Kind: &portalpb.Event_Login{Login: &portalpb.Login{Sessid: id, Uid: 42, Uname: "Tester", Puid: 7}}},
		&portalpb.Event{Kind: &portalpb.Event_Sync{Sync: &portalpb.SessionSync{Session: pd, Fields: []string{contract.FieldProtocolFlags}}}},
		&portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: []uint64{id}, Messages: msgs}}},
	)
	expect(t, s, c, "plugintest: after login and sync")
	d, ok := h.Session(id)
	if !ok {
		t.Fatalf("Sessions does not list session %d", id)
	}
	if !d.LoggedIn || d.UID != 42 || d.UName != "Tester" || d.PUID != 7 {
		t.Errorf("after Login: logged_in %v uid %d uname %q puid %d, want true 42 Tester 7", d.LoggedIn, d.UID, d.UName, d.PUID)
	}
	if got := d.ProtocolFlags.Value("PLUGINTEST"); got != "synced" {
		t.Errorf("after a protocol_flags sync: PLUGINTEST = %v, want synced", got)
	}
	for k := range before.ProtocolFlags.All() {
		if _, ok := d.ProtocolFlags.Get(k); !ok {
			t.Errorf("a protocol_flags sync dropped flag %s: flags are merged, never replaced", k)
		}
	}
}

func checkSessionIDs(t *testing.T, s Suite) {
	h := StartWith(t, s, HostOptions{SessidCount: 4})
	seen := map[uint64]bool{}
	for range 10 {
		_, id := connect(t, h)
		if seen[id] {
			t.Fatalf("session id %d given twice", id)
		}
		seen[id] = true
	}
	if h.NeedSessids() == 0 {
		t.Fatal("10 sessions from blocks of 4 ids, and the plugin never sent NeedSessids")
	}
}

// checkConnectionLimit: the host's per-address limit, which the SDK
// applies in Portal.NewSession, reaches the plugin's clients: the plugin
// gives NewSession the client's real address and drops a refused client.
func checkConnectionLimit(t *testing.T, s Suite) {
	h := StartWith(t, s, HostOptions{ConnectionsPerIP: 1})
	first, id := connect(t, h)
	second := h.Dial()
	expect(t, s, second, sdk.MsgTooManyConnections)
	expectClosed(t, s, second, "a client over the per-address limit")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	h.AwaitDisconnected(id)
	connect(t, h) // the address's slot is free again
}

func checkStartBot(t *testing.T, s Suite) {
	h := Start(t, s)
	if s.Bot == nil {
		_, err := h.StartBot(map[string]any{})
		switch status.Code(err) {
		case codes.Unimplemented:
			return
		case codes.InvalidArgument:
			t.Skipf("the plugin starts bots (it refused an empty bot config: %v); set Suite.Bot to check them", err)
		case codes.OK:
			t.Fatal("StartBot with an empty config started a bot; set Suite.Bot to check bots")
		default:
			t.Fatalf("StartBot on a plugin without bots: %v, want Unimplemented", err)
		}
	}
	bot := s.Bot(t)
	id, err := h.StartBot(bot.Config)
	if err != nil {
		t.Fatalf("StartBot: %v", err)
	}
	if !h.Granted(id) {
		t.Fatalf("StartBot: session id %d is not from a block the host granted", id)
	}
	h.AwaitConnectOf(id)
	if _, ok := h.Session(id); !ok {
		t.Fatalf("Sessions does not list bot session %d", id)
	}
	if bot.Peer == nil {
		return
	}
	h.Output(outputName(bot.Output), "plugintest: to the bot's peer", id)
	expect(t, s, bot.Peer, "plugintest: to the bot's peer")
	send(t, bot.Peer, "plugintest: from the bot's peer")
	awaitLine(t, h, participant{c: bot.Peer, id: id}, "plugintest: from the bot's peer")
}

// participant is a session the kit can talk through: a client it dialed,
// or, for a plugin without clients of its own, a bot and its peer. exact
// says whether the session's input is the line sent as it is (a bridge
// may decorate it with the speaker's name); output is the name of the
// output message that reaches its client (Bot.Output).
type participant struct {
	c      Client
	id     uint64
	exact  bool
	output string
}

// outputName is the output message a participant's client is sent.
func outputName(name string) string {
	if name == "" {
		return "text"
	}
	return name
}

// join makes a participant, or skips the check when the suite gives no
// way to make one.
func join(t *testing.T, s Suite, h *Host) participant {
	t.Helper()
	if s.Dial != nil {
		c, id := connect(t, h)
		return participant{c: c, id: id, exact: true, output: "text"}
	}
	if s.Bot == nil {
		t.Skip("no Suite.Dial and no Suite.Bot: nothing to talk through")
	}
	bot := s.Bot(t)
	if bot.Peer == nil {
		t.Skip("no Suite.Dial and no Bot.Peer: nothing to talk through")
	}
	id, err := h.StartBot(bot.Config)
	if err != nil {
		t.Fatalf("StartBot: %v", err)
	}
	h.AwaitConnectOf(id)
	return participant{c: bot.Peer, id: id, output: outputName(bot.Output)}
}

// awaitLine waits until line, sent by p's client, arrives as p's input.
func awaitLine(t *testing.T, h *Host, p participant, line string) {
	t.Helper()
	if p.exact {
		h.AwaitText(p.id, line)
		return
	}
	h.Await(fmt.Sprintf("%q in the input of session %d", line, p.id), func(ev *portalpb.Event) bool {
		if ev.GetDataIn().GetSessid() != p.id {
			return false
		}
		for _, m := range ev.GetDataIn().GetMessages() {
			for _, a := range m.GetStrArgs() {
				if strings.Contains(a, line) {
					return true
				}
			}
		}
		return false
	})
}

func checkReattach(t *testing.T, s Suite) {
	h := Start(t, s)
	p := join(t, s, h)
	send(t, p.c, "plugintest: before the reload")
	awaitLine(t, h, p, "plugintest: before the reload")
	h.Detach()
	send(t, p.c, "plugintest: during the reload")
	sessions := h.Reattach()
	i := slices.IndexFunc(sessions, func(d contract.SessionData) bool { return d.Sessid == p.id })
	if i < 0 {
		t.Fatalf("Sessions after the reattach does not list session %d: %+v", p.id, sessions)
	}
	if sessions[i].ProtocolKey != h.Info().GetProtocolKey() {
		t.Errorf("Sessions after the reattach: session %d has protocol_key %q", p.id, sessions[i].ProtocolKey)
	}
	awaitLine(t, h, p, "plugintest: during the reload")
	h.Output(p.output, "plugintest: after the reload", p.id)
	expect(t, s, p.c, "plugintest: after the reload")
	if s.Dial != nil {
		_, id2 := connect(t, h)
		if id2 == p.id {
			t.Fatalf("a new client after the reattach got session id %d again", p.id)
		}
	}
}

func checkHostLost(t *testing.T, s Suite) {
	h := Start(t, s)
	p := join(t, s, h)
	if !p.exact {
		// A bridge's peer: the link is up once its line comes in.
		send(t, p.c, "plugintest: before the host went")
		awaitLine(t, h, p, "plugintest: before the host went")
	}
	h.DropLink()
	if p.output == "text" {
		expect(t, s, p.c, sdk.MsgHostLost)
	} else {
		// The bot drops the "text" notice: the plugin's log says when it
		// noticed, and holds input from then on.
		h.AwaitLog("link: host detached")
	}
	send(t, p.c, "plugintest: while the host was away")
	sessions := h.Reattach()
	if !slices.ContainsFunc(sessions, func(d contract.SessionData) bool { return d.Sessid == p.id }) {
		t.Fatalf("Sessions after a lost host came back does not list session %d: %+v", p.id, sessions)
	}
	awaitLine(t, h, p, "plugintest: while the host was away")
	h.Output(p.output, "plugintest: the host is back", p.id)
	expect(t, s, p.c, "plugintest: the host is back")
}

func checkHostNotBack(t *testing.T, s Suite) {
	h := StartWith(t, s, HostOptions{ReattachGrace: time.Second})
	var c Client
	if s.Dial != nil {
		c, _ = connect(t, h)
	}
	h.DropLink()
	if c != nil {
		expect(t, s, c, sdk.MsgHostLost)
		expect(t, s, c, sdk.MsgHostNotBack)
		expectClosed(t, s, c, "no host came back within the grace period")
	}
	h.AwaitExit()
}

func checkShutdown(t *testing.T, s Suite) {
	h := Start(t, s)
	var c Client
	if s.Dial != nil {
		c, _ = connect(t, h)
	}
	const reason = "plugintest: the server is shutting down"
	if err := h.Shutdown(reason); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if c == nil {
		return
	}
	expect(t, s, c, reason)
	expectClosed(t, s, c, "Shutdown")
	// A plugin that shut down takes no new clients.
	if late, err := s.Dial(h.Addr()); err == nil {
		defer late.Close()
		if err := late.ExpectClosed(s.timeout()); err != nil {
			t.Fatal("the plugin still accepts clients after Shutdown")
		}
	}
}

func checkVersionMismatch(t *testing.T, s Suite) {
	if s.Binary == "" {
		t.Skip("in process: versions are negotiated by go-plugin when a binary is launched")
	}
	_, err := LaunchErr(t, s, HostOptions{HostVersions: []int{99}})
	var vm *sdk.VersionMismatchError
	if !errors.As(err, &vm) {
		t.Fatalf("a host that speaks only contract version 99 launched the plugin: %v; want a version mismatch", err)
	}
	if vm.PluginVersion == 99 || !strings.Contains(err.Error(), "host speaks 99, plugin speaks ") {
		t.Fatalf("unclear mismatch: %v", err)
	}
	t.Logf("the host says: %v", err)
}

// checkSocket: a plugin launched with umask 000 makes its socket in the
// directory the host names, with no group or other permission bits, and
// removes it when it exits because no host came back (sdk.Serve does
// both).
func checkSocket(t *testing.T, s Suite) {
	if s.Binary == "" {
		t.Skip("in process: the link's socket exists only for a launched binary")
	}
	h := StartWith(t, s, HostOptions{ReattachGrace: time.Second, umask000: true})
	rc := h.launched.ReattachConfig()
	if rc == nil || rc.Addr == nil {
		t.Fatal("plugintest: no address for the launched plugin")
	}
	if rc.Addr.Network() != "unix" {
		t.Skipf("the link is %s here, not a unix socket", rc.Addr.Network())
	}
	path := rc.Addr.String()
	if filepath.Dir(path) != h.sockDir {
		t.Fatalf("the plugin's socket is %s, not in the directory the host named in PLUGIN_UNIX_SOCKET_DIR (%s)", path, h.sockDir)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("the plugin's socket: %v", err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("the plugin's socket %s has mode %v under umask 000; want a socket no one but its owner can use (no group or other bits: sdk.Serve makes it so)", path, fi.Mode())
	}
	data := h.Info().GetDataPath()
	if data == "" {
		t.Fatal("the plugin offers no data socket (sdk.Serve makes one beside go-plugin's)")
	}
	if filepath.Dir(data) != h.sockDir {
		t.Fatalf("the plugin's data socket is %s, not in the directory the host named (%s)", data, h.sockDir)
	}
	if fi, err := os.Lstat(data); err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the plugin's data socket %s: mode %v (err %v) under umask 000; want srw------- (sdk.Serve binds it under umask 177)", data, fi.Mode(), err)
	}
	h.DropLink()
	h.AwaitExit()
	for _, p := range []string{path, data} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the plugin exited after the grace period but left its socket %s behind (err %v)", p, err)
		}
	}
}

// checkDataLink: the plugin offers a data socket with a secret of
// wire.SecretSize bytes, and the kit's host links over it, as the host
// does; a ping is answered with its nonce; a connection that brings a
// wrong secret is refused and leaves the link as it was.
func checkDataLink(t *testing.T, s Suite) {
	if s.StreamLink {
		t.Skip("Suite.StreamLink: the kit links over the Link stream")
	}
	h := Start(t, s)
	path, secret := h.Info().GetDataPath(), h.Info().GetDataSecret()
	if path == "" || !h.DataLink() {
		t.Fatal("the plugin offers no data socket in its Configure answer (sdk.Serve makes one)")
	}
	if len(secret) != wire.SecretSize {
		t.Fatalf("the data socket's secret has %d bytes, want %d", len(secret), wire.SecretSize)
	}
	h.Ping(1)
	wrong := slices.Clone(secret)
	wrong[0] ^= 0xff
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout())
	defer cancel()
	if conn, _, err := launch.DialData(ctx, path, wrong, nil); err == nil {
		conn.Close()
		t.Fatal("the data socket accepted a connection with a wrong secret")
	}
	h.Ping(2)
	if s.Dial != nil {
		c, id := connect(t, h)
		h.DataOut("plugintest: still linked", id)
		expect(t, s, c, "plugintest: still linked")
	}
}
