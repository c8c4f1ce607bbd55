package plugins

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// nullPortals is a sessions.Portals that sends nowhere.
type nullPortals struct{}

func (nullPortals) Send(string, sessions.Event)     {}
func (nullPortals) PluginFor(string) (string, bool) { return "", false }
func (nullPortals) StartBot(context.Context, string, map[string]any) (uint64, error) {
	return 0, nil
}

// syncBuffer is a log sink written by the runners and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// grantsRig is a manager on a real store and a running session handler,
// with runners that have no process: the test feeds their frames.
type grantsRig struct {
	t   *testing.T
	st  *store.Store
	h   *sessions.ServerSessionHandler
	m   *Manager
	log *syncBuffer
}

func newGrantsRig(t *testing.T, st *store.Store) *grantsRig {
	t.Helper()
	buf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(buf, nil))
	h := sessions.NewServerSessionHandler(sessions.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Store: st, Portals: nullPortals{}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the handler's loop did not end")
		}
	})
	cfg := &config.Config{Server: config.Server{DataDir: t.TempDir()}}
	return &grantsRig{t: t, st: st, h: h, m: NewManager(cfg, st, h, log, io.Discard), log: buf}
}

// runner is a runner of plugin name that accepts events, its first block
// granted as a fresh launch or a reattach would.
func (g *grantsRig) runner(name string, fresh bool) *runner {
	g.t.Helper()
	r := &runner{m: g.m, name: name, log: g.m.log.With("plugin", name), outbox: wire.NewOutbox(0), accepting: true}
	if _, err := r.grantFirstBlock(g.t.Context(), fresh); err != nil {
		g.t.Fatal(err)
	}
	return r
}

// connect feeds r a Connect of session id, then returns the plugin that
// owns session id on the host ("" for none).
func (g *grantsRig) connect(r *runner, id uint64) string {
	g.t.Helper()
	pd, err := wire.SessionToPB(contract.SessionData{Sessid: id, ProtocolKey: "telnet"})
	if err != nil {
		g.t.Fatal(err)
	}
	r.handleFrame(g.t.Context(), &portalpb.Frame{Events: []*portalpb.Event{{Kind: &portalpb.Event_Connect{
		Connect: &portalpb.Connect{Session: pd}}}}})
	return g.owner(id)
}

func (g *grantsRig) owner(id uint64) string {
	ch := make(chan string, 1)
	g.h.Do(func() {
		if s := g.h.SessionFromSessid(id); s != nil {
			ch <- s.Plugin
			return
		}
		ch <- ""
	})
	select {
	case p := <-ch:
		return p
	case <-time.After(10 * time.Second):
		g.t.Fatal("the handler's loop did not answer")
		return ""
	}
}

// disconnects are the session ids r's outbox holds Disconnects for.
func disconnects(t *testing.T, r *runner) []uint64 {
	t.Helper()
	var ids []uint64
	err := r.outbox.Flush(func(f *portalpb.Frame) error {
		for _, ev := range f.GetEvents() {
			if d := ev.GetDisconnect(); d != nil {
				ids = append(ids, d.GetSessid())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestSessidsBoundToTheirPlugin: session ids come in sequential blocks, so
// a plugin knows the ids another will be given next. A Connect with an id
// not granted to its plugin — in another plugin's block, or in a block not
// granted yet — is refused, logged and ended on that plugin, and the id
// stays free for its owner. After a reattach (a reload, or a restart after
// kill -9) a plugin's earlier blocks still count, so its sessions are
// restored; a plugin launched afresh keeps only its new block, and a
// Sessions() list naming another plugin's session is refused.
func TestSessidsBoundToTheirPlugin(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "portico.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	g := newGrantsRig(t, st)
	a := g.runner("a", true) // ids 1..1024
	b := g.runner("b", true) // ids 1025..2048

	if got := g.connect(b, 5); got != "" {
		t.Errorf("b's Connect with a's id 5: the session belongs to %q", got)
	}
	if got := g.connect(a, 5); got != "a" {
		t.Errorf("a's own id 5 after b tried it: owner %q, want a", got)
	}
	if got := g.connect(b, 2049); got != "" { // the block a is given next
		t.Errorf("b squatting id 2049 ahead of a: owner %q", got)
	}
	a.handleFrame(t.Context(), &portalpb.Frame{Events: []*portalpb.Event{{Kind: &portalpb.Event_NeedSessids{
		NeedSessids: &portalpb.NeedSessids{}}}}})
	if got := g.connect(a, 2049); got != "a" {
		t.Errorf("a's id 2049 from its second block: owner %q, want a", got)
	}
	if got := g.connect(b, 1030); got != "b" {
		t.Errorf("b's own id 1030: owner %q, want b", got)
	}
	if got := disconnects(t, b); len(got) != 2 || got[0] != 5 || got[1] != 2049 {
		t.Errorf("b was told to end sessions %v, want [5 2049]", got)
	}
	log := g.log.String()
	for _, want := range []string{
		`msg="refused session id" plugin=b sessid=5 in=connect reason="not granted to this plugin"`,
		`msg="refused session id" plugin=b sessid=2049 in=connect`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if n := strings.Count(log, "refused session id"); n != 2 {
		t.Errorf("%d refused ids logged, want 2:\n%s", n, log)
	}

	// The host restarts on the same store: a reattaches, b is launched
	// afresh. a's earlier blocks still count; b's earlier one does not.
	g2 := newGrantsRig(t, st)
	a2 := g2.runner("a", false)
	b2 := g2.runner("b", true)
	for _, id := range []uint64{6, 2050} {
		if !a2.grantedSessid(id, "sessions list") {
			t.Errorf("reattached a: its id %d refused", id)
		}
	}
	for _, id := range []uint64{1031, 7} {
		if b2.grantedSessid(id, "sessions list") {
			t.Errorf("b launched afresh: id %d accepted", id)
		}
	}
	if !strings.Contains(g2.log.String(), `msg="refused session id" plugin=b sessid=7 in="sessions list"`) {
		t.Errorf("the refused list entry is not logged:\n%s", g2.log.String())
	}
}
