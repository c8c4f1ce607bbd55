package plugins

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc"
)

// sessionsClient is a plugin's gRPC client that answers Sessions with a
// fixed list; the rest of the contract is not called.
type sessionsClient struct {
	portalpb.PortalClient
	list []*portalpb.SessionData
}

func (c *sessionsClient) Sessions(context.Context, *portalpb.SessionsRequest, ...grpc.CallOption) (*portalpb.SessionsResponse, error) {
	return &portalpb.SessionsResponse{Sessions: c.list}, nil
}

// probeRig is a grants rig whose handler records, in order, the sessions
// whose "probe" input ran.
func probeRig(t *testing.T) (*grantsRig, func() []uint64) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "portico.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	g := newGrantsRig(t, st)
	var mu sync.Mutex
	var ran []uint64
	g.h.RegisterInputfunc("probe", sessions.Inputfunc{Func: func(_ *sessions.ServerSessionHandler, s *sessions.ServerSession, _ []any, _ map[string]any) {
		mu.Lock()
		ran = append(ran, s.Sessid)
		mu.Unlock()
	}})
	return g, func() []uint64 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(ran)
	}
}

func probeFrame(ids ...uint64) *portalpb.Frame {
	f := &portalpb.Frame{}
	for _, id := range ids {
		f.Events = append(f.Events, &portalpb.Event{Kind: &portalpb.Event_DataIn{DataIn: &portalpb.DataIn{
			Sessid: id, Messages: []*portalpb.Message{{Name: "probe"}}}}})
	}
	return f
}

func connectEvent(t *testing.T, id uint64) *portalpb.Event {
	t.Helper()
	pd, err := wire.SessionToPB(contract.SessionData{Sessid: id, ProtocolKey: "telnet"})
	if err != nil {
		t.Fatal(err)
	}
	return &portalpb.Event{Kind: &portalpb.Event_Connect{Connect: &portalpb.Connect{Session: pd}}}
}

// TestRestoredSessionsBeforeFirstInput: after a reattach the link reader
// runs the plugin's input itself, at once; the sessions the reattach
// rebuilt (PortalSessionsSync) must be there by then, or the first line
// of a restored player would be dropped as input for no session.
func TestRestoredSessionsBeforeFirstInput(t *testing.T) {
	g, ran := probeRig(t)
	r := g.runner("a", true)
	client := &sessionsClient{}
	var want []uint64
	for round := range 30 {
		id := uint64(round + 1)
		pd, err := wire.SessionToPB(contract.SessionData{Sessid: id, ProtocolKey: "telnet"})
		if err != nil {
			t.Fatal(err)
		}
		client.list = append(client.list, pd)
		if err := r.restoreSessions(t.Context(), client); err != nil {
			t.Fatal(err)
		}
		r.handleFrame(t.Context(), probeFrame(id))
		want = append(want, id)
	}
	if got := ran(); !slices.Equal(got, want) {
		t.Errorf("input ran for %v, want %v: a restored session's first line ran before its restore", got, want)
	}
}

// TestLinkReadersConnectThenInput: several plugins' link readers feed
// connects and input at once, each connect and its session's first input
// in separate frames, and the console asks meanwhile; each plugin's events
// run in the order it sent them (no input is lost to a session not yet
// connected), and -race checks the readers share the game safely.
func TestLinkReadersConnectThenInput(t *testing.T) {
	g, ran := probeRig(t)
	const plugins, perPlugin = 3, 50
	runners := make([]*runner, plugins)
	for i := range plugins {
		runners[i] = g.runner(fmt.Sprintf("p%d", i), true)
	}
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(2)
		go func() {
			defer wg.Done()
			start := r.grants[0].Start
			for i := range uint64(perPlugin) {
				r.handleFrame(t.Context(), &portalpb.Frame{Events: []*portalpb.Event{connectEvent(t, start+i)}})
				r.handleFrame(t.Context(), probeFrame(start+i))
			}
		}()
		go func() {
			defer wg.Done()
			for range perPlugin {
				if err := g.h.Call(t.Context(), func() { _ = g.h.Count() }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := ran()
	if len(got) != plugins*perPlugin {
		t.Fatalf("%d inputs ran, want %d", len(got), plugins*perPlugin)
	}
	for _, r := range runners {
		var mine []uint64
		for _, id := range got {
			if r.grants[0].Contains(id) {
				mine = append(mine, id)
			}
		}
		if !slices.IsSorted(mine) || len(mine) != perPlugin {
			t.Errorf("%s: input ran as %v", r.name, mine)
		}
	}
}
