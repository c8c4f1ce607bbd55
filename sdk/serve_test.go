package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/logging"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// testPlugin is a Plugin that records what the server does to it.
type testPlugin struct {
	mu          sync.Mutex
	configures  int
	cfg         Config
	ctx         context.Context
	portal      *Portal
	configErr   error
	shutdownErr error
	shutdowns   chan struct{}
}

func newTestPlugin() *testPlugin { return &testPlugin{shutdowns: make(chan struct{}, 4)} }

func (p *testPlugin) Configure(ctx context.Context, cfg Config, portal *Portal) (Info, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.configures++
	p.cfg, p.ctx, p.portal = cfg, ctx, portal
	if p.configErr != nil {
		return Info{}, p.configErr
	}
	return Info{ProtocolKey: "test", Capabilities: []string{"oob", "mccp"}}, nil
}

func (p *testPlugin) Shutdown(context.Context) error {
	p.shutdowns <- struct{}{}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shutdownErr
}

func (p *testPlugin) state() (int, Config, context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.configures, p.cfg, p.ctx
}

// botPlugin also starts bot sessions.
type botPlugin struct {
	*testPlugin
	conn Conn
}

func (b *botPlugin) StartBot(ctx context.Context, cfg Config) (*Session, error) {
	if cfg.Raw["fail"] == true {
		return nil, errors.New("cannot reach irc.example")
	}
	addr, _ := cfg.Raw["server"].(string)
	b.mu.Lock()
	portal := b.portal
	b.mu.Unlock()
	s, err := portal.NewSession(ctx, b.conn, "irc", addr)
	if err != nil {
		return nil, err
	}
	s.Update(func(d *SessionData) { d.UName = cfg.Host.ServerName + "-bot" })
	s.Connect()
	return s, nil
}

// harness serves a Server over an in-process gRPC connection.
type harness struct {
	srv    *Server
	client portalpb.PortalClient
	// linkEnded gets one value each time a Link handler returns.
	linkEnded chan struct{}
}

func newHarness(t *testing.T, p Plugin) *harness {
	t.Helper()
	return newHarnessWith(t, p, nil, nil)
}

// newHarnessWith is newHarness with more gRPC options on either side: the
// Link's own (wire.ServerOptions, wire.DialOptions), say.
func newHarnessWith(t *testing.T, p Plugin, serverOpts []grpc.ServerOption, dialOpts []grpc.DialOption) *harness {
	t.Helper()
	h := &harness{srv: NewServer(p, discardLog()), linkEnded: make(chan struct{}, 16)}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(append(serverOpts, grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := handler(srv, ss)
		if info.FullMethod == portalpb.Portal_Link_FullMethodName {
			h.linkEnded <- struct{}{}
		}
		return err
	}))...)
	if err := (&GRPCPlugin{Impl: h.srv}).GRPCServer(nil, gs); err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(lis)
	}()
	cc, err := grpc.NewClient("passthrough:///bufnet", append(dialOpts,
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := (&GRPCPlugin{}).GRPCClient(context.Background(), nil, cc)
	if err != nil {
		t.Fatal(err)
	}
	h.client = raw.(portalpb.PortalClient)
	t.Cleanup(func() {
		cc.Close()
		gs.Stop()
		<-served
		h.srv.Close()
	})
	return h
}

func hostInfo(start, count uint64) *portalpb.HostInfo {
	return &portalpb.HostInfo{ServerName: "Test MUD", DataDir: "/srv/mud", Version: "1.2.3",
		SessidStart: start, SessidCount: count, MaxInputLength: 2000}
}

func (h *harness) configure(t *testing.T, cfg string, host *portalpb.HostInfo) *portalpb.ConfigureResponse {
	t.Helper()
	resp, err := h.client.Configure(testCtx(t), &portalpb.ConfigureRequest{ConfigJson: []byte(cfg), Host: host})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return resp
}

// hostLink is the host's end of one Link stream.
type hostLink struct {
	stream portalpb.Portal_LinkClient
	cancel context.CancelFunc
	frames chan *portalpb.Frame
	ended  chan error
}

func (h *harness) link(t *testing.T) *hostLink {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := h.client.Link(ctx)
	if err != nil {
		t.Fatalf("Link: %v", err)
	}
	l := &hostLink{stream: st, cancel: cancel, frames: make(chan *portalpb.Frame, 256), ended: make(chan error, 1)}
	go func() {
		for {
			f, err := st.Recv()
			if err != nil {
				l.ended <- err
				return
			}
			l.frames <- f
		}
	}()
	return l
}

func (l *hostLink) send(t *testing.T, evs ...*portalpb.Event) {
	t.Helper()
	if err := l.stream.Send(frame(evs...)); err != nil {
		t.Fatalf("host send: %v", err)
	}
}

// events receives frames until n events have come.
func (l *hostLink) events(t *testing.T, n int) (evs []*portalpb.Event, frames int) {
	t.Helper()
	for len(evs) < n {
		f := wait(t, l.frames, "a frame from the plugin")
		frames++
		evs = append(evs, f.GetEvents()...)
	}
	if len(evs) != n {
		t.Fatalf("got %d events (%v), want %d", len(evs), kinds(evs), n)
	}
	return evs, frames
}

func code(err error) codes.Code { return status.Code(err) }

func TestServerConfigure(t *testing.T) {
	p := newTestPlugin()
	h := newHarness(t, p)
	resp := h.configure(t, `{"listen": ":4000", "port": 4000}`, hostInfo(100, 10))
	if resp.GetProtocolKey() != "test" || !slices.Equal(resp.GetCapabilities(), []string{"oob", "mccp"}) {
		t.Errorf("response = %v", resp)
	}
	n, cfg, ctx := p.state()
	if n != 1 {
		t.Fatalf("plugin configured %d times", n)
	}
	if want := map[string]any{"listen": ":4000", "port": json.Number("4000")}; !reflect.DeepEqual(cfg.Raw, want) {
		t.Errorf("config = %v, want %v", cfg.Raw, want)
	}
	wantHost := HostInfo{ServerName: "Test MUD", DataDir: "/srv/mud", Version: "1.2.3", Limits: Limits{MaxInputLength: 2000}}
	if cfg.Host != wantHost || h.srv.Portal().Host() != wantHost {
		t.Errorf("host = %+v / %+v, want %+v", cfg.Host, h.srv.Portal().Host(), wantHost)
	}
	if ctx.Err() != nil {
		t.Error("plugin context already ended")
	}

	// A host that reattached configures again: same answer, no restart, and
	// its block of ids comes after the first.
	host2 := hostInfo(500, 10)
	host2.ServerName = "Renamed MUD"
	resp2 := h.configure(t, `{"listen": ":5000"}`, host2)
	if resp2.GetProtocolKey() != "test" || !slices.Equal(resp2.GetCapabilities(), resp.GetCapabilities()) {
		t.Errorf("second response = %v", resp2)
	}
	if n, _, _ := p.state(); n != 1 {
		t.Errorf("plugin configured %d times, want once", n)
	}
	if h.srv.Portal().Host().ServerName != "Renamed MUD" {
		t.Errorf("host info not updated: %+v", h.srv.Portal().Host())
	}
	var ids []uint64
	for range 11 {
		ids = append(ids, newSession(t, h.srv.Portal(), newFakeConn()).ID())
	}
	if ids[0] != 100 || ids[9] != 109 || ids[10] != 500 {
		t.Errorf("ids = %v, want 100..109 then 500", ids)
	}
}

func TestServerConfigureErrors(t *testing.T) {
	p := newTestPlugin()
	h := newHarness(t, p)
	for _, cfg := range []string{`{"listen":`, `[1, 2]`, `"x"`} {
		_, err := h.client.Configure(testCtx(t), &portalpb.ConfigureRequest{ConfigJson: []byte(cfg), Host: hostInfo(1, 10)})
		if code(err) != codes.InvalidArgument {
			t.Errorf("config %s: %v, want InvalidArgument", cfg, err)
		}
	}
	if n, _, _ := p.state(); n != 0 {
		t.Fatalf("plugin configured with a bad config")
	}
	p.mu.Lock()
	p.configErr = errors.New("listen tcp :23: permission denied")
	p.mu.Unlock()
	_, err := h.client.Configure(testCtx(t), &portalpb.ConfigureRequest{ConfigJson: []byte(`{}`), Host: hostInfo(1, 10)})
	if code(err) != codes.InvalidArgument || status.Convert(err).Message() != "listen tcp :23: permission denied" {
		t.Errorf("plugin error: %v", err)
	}
	// A failed Configure can be tried again.
	p.mu.Lock()
	p.configErr = nil
	p.mu.Unlock()
	h.configure(t, ``, hostInfo(1, 10))
	if n, cfg, _ := p.state(); n != 2 || len(cfg.Raw) != 0 || cfg.Raw == nil {
		t.Errorf("retry: configured %d times, config %#v", n, cfg.Raw)
	}
}

func TestServerLink(t *testing.T) {
	p := newTestPlugin()
	h := newHarness(t, p)
	h.configure(t, `{}`, hostInfo(1, 100))
	portal := h.srv.Portal()
	conn := newNotifyConn()
	s := newSession(t, portal, conn)
	s.DataIn(Text("typed early"))
	s.Connect()
	s.DataIn(Text("then this"))

	l := h.link(t)
	evs, frames := l.events(t, 3)
	if got := kinds(evs); !slices.Equal(got, []string{"connect", "data_in", "data_in"}) {
		t.Fatalf("events = %v", got)
	}
	if frames != 1 {
		t.Errorf("queued events came in %d frames, want 1", frames)
	}
	if evs[0].GetConnect().GetSession().GetSessid() != s.ID() {
		t.Error("connect for the wrong session")
	}
	if got := dataInTexts(t, evs[2]); !slices.Equal(got, []string{"then this"}) {
		t.Errorf("data in = %q", got)
	}

	// Host → plugin frames are applied in order.
	pms, _ := wire.MessagesToPB([]Message{Text("Welcome!")})
	l.send(t,
		&portalpb.Event{Kind: &portalpb.Event_Login{Login: &portalpb.Login{Sessid: s.ID(), Uid: 3, Uname: "Alice"}}},
		&portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: []uint64{s.ID()}, Messages: pms}}},
	)
	if got := wait(t, conn.logins, "LoggedIn"); got != s || s.GetSyncData().UName != "Alice" {
		t.Error("login not applied")
	}
	call := wait(t, conn.sends, "Send")
	if txt, _ := call.msgs[0].FirstString(); txt != "Welcome!" {
		t.Errorf("sent %v", call.msgs)
	}

	// Events put while the link is open go out at once.
	s.Sync(contract.FieldProtocolFlags)
	if evs, _ := l.events(t, 1); evs[0].GetSync() == nil {
		t.Errorf("event = %v", kinds(evs))
	}

	// The host closing its side ends the link cleanly.
	if err := l.stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, l.ended, "link end"); !errors.Is(err, io.EOF) {
		t.Errorf("link ended with %v, want EOF", err)
	}
	wait(t, h.linkEnded, "Link handler return")
}

// TestServerLinkReattach is a host reload: the link goes away, the plugin's
// players keep typing, and a new link gets everything, in order.
func TestServerLinkReattach(t *testing.T) {
	p := newTestPlugin()
	h := newHarness(t, p)
	h.configure(t, `{}`, hostInfo(1, 100))
	portal := h.srv.Portal()
	s := newSession(t, portal, newFakeConn())

	l1 := h.link(t)
	s.Connect()
	if evs, _ := l1.events(t, 1); evs[0].GetConnect() == nil {
		t.Fatalf("events = %v", kinds(evs))
	}
	// The host goes away.
	l1.cancel()
	wait(t, h.linkEnded, "first Link handler return")

	s.DataIn(Text("1"))
	s.DataIn(Text("2"))
	s2 := newSession(t, portal, newFakeConn())
	s2.Connect()
	s.DataIn(Text("3"))
	s.SetFlags(map[string]any{contract.FlagScreenWidth: 100})
	unannounced := newSession(t, portal, newFakeConn())

	// The new host asks for the sessions, then links.
	resp, err := h.client.Sessions(testCtx(t), &portalpb.SessionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, pd := range resp.GetSessions() {
		ids = append(ids, pd.GetSessid())
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []uint64{s.ID(), s2.ID()}) {
		t.Errorf("Sessions = %v, want %v (not %d, never announced)", ids, []uint64{s.ID(), s2.ID()}, unannounced.ID())
	}

	l2 := h.link(t)
	evs, frames := l2.events(t, 5)
	if got := kinds(evs); !slices.Equal(got, []string{"data_in", "data_in", "connect", "data_in", "sync"}) {
		t.Fatalf("events = %v", got)
	}
	if frames != 1 {
		t.Errorf("events queued during the gap came in %d frames, want 1", frames)
	}
	for i, want := range map[int]string{0: "1", 1: "2", 3: "3"} {
		if got := dataInTexts(t, evs[i]); len(got) != 1 || got[0] != want {
			t.Errorf("event %d = %q, want %q", i, got, want)
		}
	}
	if evs[2].GetConnect().GetSession().GetSessid() != s2.ID() {
		t.Error("connect for the wrong session")
	}
}

// TestServerLinkReplaced: a second Link while the first is still open takes
// over; from then on everything goes out on the new one.
func TestServerLinkReplaced(t *testing.T) {
	p := newTestPlugin()
	h := newHarness(t, p)
	h.configure(t, `{}`, hostInfo(1, 100))
	portal := h.srv.Portal()
	conn := newNotifyConn()
	s := newSession(t, portal, conn)

	l1 := h.link(t)
	s.Connect()
	l1.events(t, 1)

	l2 := h.link(t)
	// Once a frame sent on the new link has been applied, the new link's
	// handler runs, and it only reads after replacing the old sender.
	l2.send(t, &portalpb.Event{Kind: &portalpb.Event_Login{Login: &portalpb.Login{Sessid: s.ID(), Uid: 1, Uname: "A"}}})
	wait(t, conn.logins, "LoggedIn")

	const n = 50
	for i := range n {
		s.DataIn(Text(string(rune('a' + i%26))))
	}
	evs, _ := l2.events(t, n)
	for i, e := range evs {
		if got := dataInTexts(t, e); len(got) != 1 || got[0] != string(rune('a'+i%26)) {
			t.Fatalf("event %d = %q", i, got)
		}
	}
	none(t, l1.frames, "frame on the replaced link")
}

func TestServerSessions(t *testing.T) {
	h := newHarness(t, newTestPlugin())
	h.configure(t, `{}`, hostInfo(1, 100))
	resp, err := h.client.Sessions(testCtx(t), &portalpb.SessionsRequest{})
	if err != nil || len(resp.GetSessions()) != 0 {
		t.Fatalf("Sessions with none = %v, %v", resp, err)
	}
	portal := h.srv.Portal()
	a, b, c := newSession(t, portal, newFakeConn()), newSession(t, portal, newFakeConn()), newSession(t, portal, newFakeConn())
	a.Connect()
	c.Connect()
	c.Update(func(d *SessionData) { d.UName = "Carol"; d.LoggedIn = true })
	b.Disconnected("gone")
	resp, err = h.client.Sessions(testCtx(t), &portalpb.SessionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]SessionData{}
	for _, pd := range resp.GetSessions() {
		d, err := wire.SessionFromPB(pd)
		if err != nil {
			t.Fatal(err)
		}
		got[d.Sessid] = d
	}
	if len(got) != 2 {
		t.Fatalf("Sessions = %v, want %d and %d", got, a.ID(), c.ID())
	}
	if d := got[c.ID()]; d.UName != "Carol" || !d.LoggedIn || d.ProtocolKey != "telnet" || d.Encoding() != "utf-8" {
		t.Errorf("session %d = %+v", c.ID(), d)
	}
	if _, ok := got[a.ID()]; !ok {
		t.Errorf("session %d missing", a.ID())
	}

	// The host's way (its bytes read straight into session data) reads
	// the same sessions.
	resp, err = h.client.Sessions(testCtx(t), &portalpb.SessionsRequest{}, wire.RawSessionsAnswer())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetSessions()) != 0 || wire.SessionsIn(resp) != 2 {
		t.Fatalf("raw answer: %d unmarshalled, %d in all; want 0 and 2", len(resp.GetSessions()), wire.SessionsIn(resp))
	}
	raw := map[uint64]SessionData{}
	if err := wire.ReadSessions(resp, func(d SessionData, err error) {
		if err != nil {
			t.Fatal(err)
		}
		raw[d.Sessid] = d
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(raw, got) {
		t.Errorf("raw answer read as %+v, want %+v", raw, got)
	}
}

func TestServerStartBot(t *testing.T) {
	h := newHarness(t, newTestPlugin())
	h.configure(t, `{}`, hostInfo(1, 100))
	if _, err := h.client.StartBot(testCtx(t), &portalpb.StartBotRequest{ConfigJson: []byte(`{}`)}); code(err) != codes.Unimplemented {
		t.Errorf("StartBot on a plugin without bots: %v, want Unimplemented", err)
	}

	bp := &botPlugin{testPlugin: newTestPlugin(), conn: newFakeConn()}
	h = newHarness(t, bp)
	h.configure(t, `{}`, hostInfo(1, 100))
	resp, err := h.client.StartBot(testCtx(t), &portalpb.StartBotRequest{ConfigJson: []byte(`{"server": "irc.example:6667"}`)})
	if err != nil {
		t.Fatal(err)
	}
	s := h.srv.Portal().Session(resp.GetSessid())
	if s == nil {
		t.Fatalf("no session %d", resp.GetSessid())
	}
	d := s.GetSyncData()
	if d.ProtocolKey != "irc" || d.Address != "irc.example:6667" || d.UName != "Test MUD-bot" {
		t.Errorf("bot session = %+v", d)
	}
	for cfg, want := range map[string]codes.Code{`{`: codes.InvalidArgument, `{"fail": true}`: codes.InvalidArgument} {
		if _, err := h.client.StartBot(testCtx(t), &portalpb.StartBotRequest{ConfigJson: []byte(cfg)}); code(err) != want {
			t.Errorf("StartBot(%s) = %v, want %v", cfg, err, want)
		}
	}
}

func TestServerShutdown(t *testing.T) {
	p := newTestPlugin()
	h := newHarness(t, p)
	h.configure(t, `{}`, hostInfo(1, 100))
	portal := h.srv.Portal()
	c1, c2 := newFakeConn(), newFakeConn()
	s1 := newSession(t, portal, c1)
	newSession(t, portal, c2) // still negotiating
	s1.Connect()
	drain(t, portal.Outbox())

	if _, err := h.client.Shutdown(testCtx(t), &portalpb.ShutdownRequest{Reason: "Server is shutting down."}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*fakeConn{c1, c2} {
		if got := wait(t, c.closes, "Conn.Close"); got != "Server is shutting down." {
			t.Errorf("close reason = %q", got)
		}
	}
	wait(t, p.shutdowns, "Plugin.Shutdown")
	if portal.Count() != 0 {
		t.Errorf("Count = %d", portal.Count())
	}
	if evs := drain(t, portal.Outbox()); len(evs) != 0 {
		t.Errorf("events = %v: the host asked for the shutdown", kinds(evs))
	}
	_, _, ctx := p.state()
	wait(t, ctx.Done(), "the plugin's context to end")
}

func TestServerShutdownErrors(t *testing.T) {
	// Not configured: the plugin has nothing to stop.
	p := newTestPlugin()
	h := newHarness(t, p)
	if _, err := h.client.Shutdown(testCtx(t), &portalpb.ShutdownRequest{}); err != nil {
		t.Fatal(err)
	}
	none(t, p.shutdowns, "Plugin.Shutdown before Configure")

	p = newTestPlugin()
	p.shutdownErr = errors.New("listener stuck")
	h = newHarness(t, p)
	h.configure(t, `{}`, hostInfo(1, 100))
	if _, err := h.client.Shutdown(testCtx(t), &portalpb.ShutdownRequest{}); code(err) != codes.Internal {
		t.Errorf("Shutdown = %v, want Internal", err)
	}
	wait(t, p.shutdowns, "Plugin.Shutdown")
}

func TestOpenLog(t *testing.T) {
	w, closeLog := openLog("", "portico-test", logging.Options{})
	if w != os.Stderr {
		t.Errorf("no data dir: %v, want stderr", w)
	}
	closeLog()

	dir := t.TempDir()
	w, closeLog = openLog(dir, "portico-test", logging.Options{})
	if _, err := io.WriteString(w, "hello\n"); err != nil {
		t.Fatal(err)
	}
	closeLog()
	path := filepath.Join(dir, "logs", "portico-test.log")
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "hello\n" {
		t.Fatalf("log file: %q, %v", b, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log file mode: %v, %v", fi.Mode(), err)
	}

	// A data dir that is a file: fall back to stderr.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w, closeLog = openLog(file, "portico-test", logging.Options{})
	if w != os.Stderr {
		t.Errorf("unusable data dir: %v, want stderr", w)
	}
	closeLog()
}

func isDetached(e *portalpb.Event) bool { return e.GetDetached() != nil }

var detachEv = &portalpb.Event{Kind: &portalpb.Event_Detach{Detach: &portalpb.Detach{}}}

// TestServerLinkDetach is a planned host reload: the host asks the plugin to
// detach, gets Detached after everything sent on the link, and the next
// link carries on where the old one stopped. Clients are not told.
func TestServerLinkDetach(t *testing.T) {
	p := newTestPlugin()
	h := newHarness(t, p)
	h.configure(t, `{}`, hostInfo(1, 100))
	portal := h.srv.Portal()
	conn := newNotifyConn()
	s := newSession(t, portal, conn)

	l1 := h.link(t)
	s.Connect()
	s.DataIn(Text("a"))
	l1.send(t, detachEv, detachEv) // a second Detach is ignored
	var before []*portalpb.Event
	for done := false; !done; {
		for _, e := range wait(t, l1.frames, "frames up to Detached").GetEvents() {
			if done {
				t.Fatalf("event %v after Detached", kinds([]*portalpb.Event{e}))
			}
			if isDetached(e) {
				done = true
				continue
			}
			before = append(before, e)
		}
	}
	// After Detach the plugin sends nothing more on this link, but it still
	// applies what the host sends until the host closes its side.
	s.DataIn(Text("b"))
	l1.send(t, &portalpb.Event{Kind: &portalpb.Event_Login{Login: &portalpb.Login{Sessid: s.ID(), Uid: 4, Uname: "Dora"}}})
	wait(t, conn.logins, "LoggedIn after Detach")
	if err := l1.stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, l1.ended, "link end"); !errors.Is(err, io.EOF) {
		t.Errorf("link ended with %v", err)
	}
	none(t, l1.frames, "frame after Detached")
	wait(t, h.linkEnded, "Link handler return")
	none(t, conn.sends, "a message to the client on a planned reload")

	// Whatever the old link did not carry goes out on the new one, in order.
	l2 := h.link(t)
	after, _ := l2.events(t, 3-len(before))
	all := append(before, after...)
	if got := kinds(all); !slices.Equal(got, []string{"connect", "data_in", "data_in"}) {
		t.Fatalf("events over both links = %v", got)
	}
	for i, want := range map[int]string{1: "a", 2: "b"} {
		if got := dataInTexts(t, all[i]); len(got) != 1 || got[0] != want {
			t.Errorf("event %d = %q, want %q", i, got, want)
		}
	}
}

// TestServerHostLostGraceExpires: the host vanished without a Detach and
// none came back within the grace period.
func TestServerHostLostGraceExpires(t *testing.T) {
	p := newTestPlugin()
	h := newHarness(t, p)
	lost := make(chan struct{}, 2)
	h.srv.OnHostLost = func() { lost <- struct{}{} }
	host := hostInfo(1, 100)
	host.ReattachGraceMs = 20
	h.configure(t, `{}`, host)
	if g := h.srv.Portal().Host().ReattachGrace; g != 20*time.Millisecond {
		t.Errorf("ReattachGrace = %v", g)
	}
	portal := h.srv.Portal()
	c1, c2 := newFakeConn(), newFakeConn()
	s1 := newSession(t, portal, c1)
	newSession(t, portal, c2)
	s1.Connect()

	l := h.link(t)
	l.events(t, 1)
	l.cancel()
	for _, c := range []*fakeConn{c1, c2} {
		call := wait(t, c.sends, "the restarting notice")
		if txt, _ := call.msgs[0].FirstString(); txt != MsgHostLost {
			t.Errorf("notice = %q", txt)
		}
	}
	wait(t, lost, "OnHostLost")
	for _, c := range []*fakeConn{c1, c2} {
		if got := wait(t, c.closes, "Conn.Close"); got != MsgHostNotBack {
			t.Errorf("close reason = %q", got)
		}
	}
	wait(t, p.shutdowns, "Plugin.Shutdown")
	if portal.Count() != 0 {
		t.Errorf("Count = %d", portal.Count())
	}
	_, _, ctx := p.state()
	wait(t, ctx.Done(), "the plugin's context to end")
	none(t, lost, "a second OnHostLost")
}

// TestServerHostBackWithinGrace: a host that reattaches in time stops the
// grace period; the old link's timer, should it fire, does nothing.
func TestServerHostBackWithinGrace(t *testing.T) {
	p := newTestPlugin()
	h := newHarness(t, p)
	lost := make(chan struct{}, 1)
	h.srv.OnHostLost = func() { lost <- struct{}{} }
	host := hostInfo(1, 100)
	host.ReattachGraceMs = 60_000
	h.configure(t, `{}`, host)
	conn := newNotifyConn()
	s := newSession(t, h.srv.Portal(), conn)
	s.Connect()

	l1 := h.link(t)
	l1.events(t, 1)
	l1.cancel()
	wait(t, h.linkEnded, "Link handler return")
	h.srv.mu.Lock()
	oldGen, timer := h.srv.linkGen, h.srv.graceTimer
	h.srv.mu.Unlock()
	if timer == nil {
		t.Fatal("no grace period after the host went away")
	}
	wait(t, conn.sends, "the restarting notice")

	l2 := h.link(t)
	l2.send(t, &portalpb.Event{Kind: &portalpb.Event_Login{Login: &portalpb.Login{Sessid: s.ID(), Uid: 1}}})
	wait(t, conn.logins, "LoggedIn on the new link")
	h.srv.mu.Lock()
	timer = h.srv.graceTimer
	h.srv.mu.Unlock()
	if timer != nil {
		t.Error("grace period still running after a host came back")
	}
	h.srv.graceExpired(oldGen) // as if the old timer fired anyway
	none(t, lost, "OnHostLost")
	none(t, conn.closes, "Conn.Close")
	none(t, p.shutdowns, "Plugin.Shutdown")
	if h.srv.Portal().Session(s.ID()) != s {
		t.Error("session dropped")
	}
}

// TestServerGraceAfterShutdown: a host that shut the plugin down after its
// link ended has stopped it; the grace period must not stop it again.
func TestServerGraceAfterShutdown(t *testing.T) {
	p := newTestPlugin()
	h := newHarness(t, p)
	lost := make(chan struct{}, 1)
	h.srv.OnHostLost = func() { lost <- struct{}{} }
	h.configure(t, `{}`, hostInfo(1, 100))
	l := h.link(t)
	l.cancel()
	wait(t, h.linkEnded, "Link handler return")
	if _, err := h.client.Shutdown(testCtx(t), &portalpb.ShutdownRequest{Reason: "bye"}); err != nil {
		t.Fatal(err)
	}
	wait(t, p.shutdowns, "Plugin.Shutdown")
	h.srv.mu.Lock()
	gen := h.srv.linkGen
	h.srv.mu.Unlock()
	h.srv.graceExpired(gen) // the grace timer fires after the shutdown
	none(t, p.shutdowns, "a second Plugin.Shutdown")
	none(t, lost, "OnHostLost after a shutdown")
}
