package plugins

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// nullConn is a client connection that takes output and closes silently.
type nullConn struct{}

func (nullConn) Send(*sdk.Session, []sdk.Message) {}
func (nullConn) Close(string)                     {}

// boundedPlugin serves a real plugin server (sdk.Server) over an
// in-process gRPC connection whose messages the plugin's side bounds at
// maxMsg bytes, as the Link's options bound them at wire.MaxMessageBytes:
// a small bound stands for the real one, so that a few hundred sessions
// pass it. Each of the n sessions it holds, in r's first block, carries
// 1 KB of server data.
func boundedPlugin(t *testing.T, r *runner, n, maxMsg int) portalpb.PortalClient {
	t.Helper()
	srv := sdk.NewServer(quietPlugin{}, slog.New(slog.DiscardHandler))
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(grpc.MaxSendMsgSize(maxMsg))
	portalpb.RegisterPortalServer(gs, srv)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(lis)
	}()
	cc, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Close()
		gs.Stop()
		<-served
		srv.Close()
	})
	client := portalpb.NewPortalClient(cc)
	grant := r.grants[0]
	if _, err := client.Configure(t.Context(), &portalpb.ConfigureRequest{ConfigJson: []byte(`{}`),
		Host: &portalpb.HostInfo{SessidStart: grant.Start, SessidCount: grant.Count}}); err != nil {
		t.Fatal(err)
	}
	note := strings.Repeat("n", 1000)
	for i := range n {
		s, err := srv.Portal().NewSession(t.Context(), nullConn{}, "telnet", "127.0.0.1:"+strconv.Itoa(20000+i))
		if err != nil {
			t.Fatal(err)
		}
		s.Update(func(d *sdk.SessionData) { d.ServerData = map[string]any{"note": note} })
		s.Connect()
	}
	return client
}

// TestRestoreSessionsInPages: a reattached plugin whose sessions take more
// than one gRPC message keeps every one of them: the host reads its answer
// in pages (here of 8 KiB, through the test knob, under a message bound of
// 64 KiB; 300 sessions of 1 KB make some 320 KB) and restores them all at
// once. Before, the one answer was over the bound and the restore failed.
func TestRestoreSessionsInPages(t *testing.T) {
	const n = 300
	t.Setenv(EnvTestSessionsPageBytes, strconv.Itoa(8<<10))
	g, _ := probeRig(t)
	r := g.runner("a", true)
	client := boundedPlugin(t, r, n, 64<<10)
	if err := r.restoreSessions(t.Context(), client); err != nil {
		t.Fatal(err)
	}
	restored := make(chan []string, 1)
	g.h.Do(func() {
		var missing []string
		for id := r.grants[0].Start; id < r.grants[0].Start+n; id++ {
			s := g.h.SessionFromSessid(id)
			if s == nil || s.Plugin != "a" || len(fmt.Sprint(s.ServerData["note"])) != 1000 {
				missing = append(missing, strconv.FormatUint(id, 10))
			}
		}
		restored <- missing
	})
	if missing := <-restored; len(missing) > 0 {
		t.Fatalf("%d of %d sessions not restored whole: %v", len(missing), n, missing)
	}
	m := regexp.MustCompile(`sessions restored.* count=(\d+) pages=(\d+)`).FindStringSubmatch(g.log.String())
	if m == nil {
		t.Fatalf("no restore logged: %s", g.log.String())
	}
	if pages, _ := strconv.Atoi(m[2]); m[1] != strconv.Itoa(n) || pages < 30 {
		t.Errorf("restored %s sessions in %s pages, want %d in some 40", m[1], m[2], n)
	}
}

// endlessPages is a hostile plugin's client: every page names another.
type endlessPages struct {
	portalpb.PortalClient
	id    uint64
	calls int
}

func (c *endlessPages) Sessions(_ context.Context, req *portalpb.SessionsRequest, _ ...grpc.CallOption) (*portalpb.SessionsResponse, error) {
	c.calls++
	pd, err := wire.SessionToPB(contract.SessionData{Sessid: c.id, ProtocolKey: "telnet"})
	if err != nil {
		return nil, err
	}
	return &portalpb.SessionsResponse{Sessions: []*portalpb.SessionData{pd}, Snapshot: 3,
		NextPage: req.GetPage() + 1, Total: 1 << 40}, nil
}

// TestRestoreSessionsRefusesEndlessPages: a plugin that pages without end
// gets a clear error after wire.MaxSessionsPages pages, and nothing of it
// is restored.
func TestRestoreSessionsRefusesEndlessPages(t *testing.T) {
	g, _ := probeRig(t)
	r := g.runner("a", true)
	client := &endlessPages{id: r.grants[0].Start}
	err := r.restoreSessions(t.Context(), client)
	if err == nil || !strings.Contains(err.Error(), "plugins: a: sessions: wire: sessions: more than 4096 pages: refused") {
		t.Fatalf("endless pages: %v", err)
	}
	if client.calls != wire.MaxSessionsPages {
		t.Errorf("%d calls, want %d", client.calls, wire.MaxSessionsPages)
	}
	if owner := g.owner(client.id); owner != "" {
		t.Errorf("a session of a refused answer was restored (owned by %q)", owner)
	}
}

// repeatingPlugin's client answers Sessions in one page (as a plugin built
// before pages does) that lists its first session three times.
type repeatingPlugin struct {
	portalpb.PortalClient
	ids []uint64
}

func (c *repeatingPlugin) Sessions(context.Context, *portalpb.SessionsRequest, ...grpc.CallOption) (*portalpb.SessionsResponse, error) {
	resp := &portalpb.SessionsResponse{}
	for _, id := range []uint64{c.ids[0], c.ids[1], c.ids[0], c.ids[0]} {
		pd, err := wire.SessionToPB(contract.SessionData{Sessid: id, ProtocolKey: "telnet"})
		if err != nil {
			return nil, err
		}
		resp.Sessions = append(resp.Sessions, pd)
	}
	return resp, nil
}

// TestRestoreSessionsKeepsARepeatOnce: a session a plugin lists more than
// once is restored once, and the repeats are logged; the game is not
// handed the same session again and again (pages allow a plugin to list
// millions).
func TestRestoreSessionsKeepsARepeatOnce(t *testing.T) {
	g, _ := probeRig(t)
	r := g.runner("a", true)
	start := r.grants[0].Start
	client := &repeatingPlugin{ids: []uint64{start, start + 1}}
	if err := r.restoreSessions(t.Context(), client); err != nil {
		t.Fatal(err)
	}
	for _, id := range client.ids {
		if owner := g.owner(id); owner != "a" {
			t.Errorf("session %d owned by %q after the restore, want a", id, owner)
		}
	}
	log := g.log.String()
	if !strings.Contains(log, "repeats=2") || !strings.Contains(log, "count=2 ") {
		t.Errorf("want 2 sessions restored and 2 repeats logged:\n%s", log)
	}
}
