package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/attrs"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// waitLimit bounds every wait in these tests: nothing here should take more
// than a fraction of it, so reaching it means a hang.
const waitLimit = 10 * time.Second

// testSettings are the settings the harness starts with.
var testSettings = Settings{ServerName: "Portico Test", MultisessionMode: 0}

// sentEvent is one event the handler sent to a plugin.
type sentEvent struct {
	Plugin string
	Event  Event
}

// The event as each type, or nil: the tests read events as the proto
// getters did, nil when the event is another kind.
func (e sentEvent) dataOut() *DataOut             { return as[DataOut](e.Event) }
func (e sentEvent) login() *Login                 { return as[Login](e.Event) }
func (e sentEvent) disconnect() *Disconnect       { return as[Disconnect](e.Event) }
func (e sentEvent) disconnectAll() *DisconnectAll { return as[DisconnectAll](e.Event) }
func (e sentEvent) sync() *SessionSync            { return as[SessionSync](e.Event) }
func (e sentEvent) syncAll() *SyncAll             { return as[SyncAll](e.Event) }

// snapshot copies ev as the plugin would receive it, or returns nil for
// an event the link adapter would drop: Portals.Send encodes before it
// returns, so the handler may change the maps it handed over afterwards,
// and the fake must keep what was sent. Message values go through JSON as
// on the link (an int arrives as int64); output that does not encode is
// dropped, as core/plugins drops it.
func snapshot(ev Event) Event {
	switch e := ev.(type) {
	case DataOut:
		msgs := make([]contract.Message, len(e.Messages))
		for i, m := range e.Messages {
			args, err := viaJSON(m.Args)
			if err != nil {
				return nil
			}
			kwargs, err := viaJSON(m.Kwargs)
			if err != nil {
				return nil
			}
			msgs[i] = contract.Message{Name: m.Name, Args: args, Kwargs: kwargs}
		}
		e.Messages = msgs
		return e
	case SessionSync:
		e.Session = e.Session.GetSyncData()
		return e
	case SyncAll:
		list := make([]contract.SessionData, len(e.Sessions))
		for i := range e.Sessions {
			list[i] = e.Sessions[i].GetSyncData()
		}
		e.Sessions = list
		return e
	}
	return ev
}

// viaJSON returns v as the other side of the link decodes it: nil when
// empty, JSON numbers as int64 or float64.
func viaJSON[T []any | map[string]any](v T) (T, error) {
	if len(v) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out, err := contract.DecodeJSON(b)
	if err != nil {
		return nil, err
	}
	return out.(T), nil
}

func as[T Event](ev Event) *T {
	if v, ok := ev.(T); ok {
		return &v
	}
	return nil
}

type botCall struct {
	Protocol string
	Config   map[string]any
}

// fakePortals records the events sent to each plugin. It is safe for
// concurrent use: the loop sends while the test reads.
type fakePortals struct {
	mu      sync.Mutex
	events  []sentEvent
	changed chan struct{}
	bots    []botCall
	botID   uint64
	botErr  error
	// onStartBot, when set, runs inside StartBot (the plugin connecting
	// its bot before answering).
	onStartBot func()
	// onSend, when set before the handler runs, sees each event as it is
	// sent.
	onSend func(sentEvent)
}

var _ Portals = (*fakePortals)(nil)

func newFakePortals() *fakePortals { return &fakePortals{changed: make(chan struct{})} }

func (p *fakePortals) Send(plugin string, ev Event) {
	if ev = snapshot(ev); ev == nil {
		return
	}
	if p.onSend != nil {
		p.onSend(sentEvent{Plugin: plugin, Event: ev})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, sentEvent{Plugin: plugin, Event: ev})
	close(p.changed)
	p.changed = make(chan struct{})
}

// PluginFor serves every protocol by the plugin of that name.
func (p *fakePortals) PluginFor(protocol string) (string, bool) { return protocol, protocol != "" }

func (p *fakePortals) StartBot(_ context.Context, plugin string, config map[string]any) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bots = append(p.bots, botCall{Protocol: plugin, Config: config})
	if p.onStartBot != nil {
		p.onStartBot()
	}
	return p.botID, p.botErr
}

// Events returns a copy of what was sent so far.
func (p *fakePortals) Events() []sentEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// Reset forgets what was sent so far.
func (p *fakePortals) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = nil
}

// waitFor waits until ok holds for the events sent so far, and returns them.
func (p *fakePortals) waitFor(t *testing.T, what string, ok func([]sentEvent) bool) []sentEvent {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		evs := slices.Clone(p.events)
		changed := p.changed
		p.mu.Unlock()
		if ok(evs) {
			return evs
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; sent: %s", what, describe(t, evs))
			return nil
		}
	}
}

// waitText waits until session sessid has been sent text.
func (p *fakePortals) waitText(t *testing.T, sessid uint64, text string) []sentEvent {
	t.Helper()
	return p.waitFor(t, fmt.Sprintf("text %q to session %d", text, sessid), func(evs []sentEvent) bool {
		return slices.Contains(textsFor(t, evs, sessid), text)
	})
}

// fakeCommands records the lines the handler runs as commands.
type fakeCommands struct {
	mu    sync.Mutex
	lines []cmdLine
	// onExecute, when set, runs each line too (on the loop), as a game's
	// command would.
	onExecute func(s *ServerSession, line string)
}

type cmdLine struct {
	Sessid uint64
	Line   string
}

var _ CommandHandler = (*fakeCommands)(nil)

func (c *fakeCommands) Execute(s *ServerSession, line string) {
	c.mu.Lock()
	run := c.onExecute
	c.lines = append(c.lines, cmdLine{Sessid: s.Sessid, Line: line})
	c.mu.Unlock()
	if run != nil {
		run(s, line)
	}
}

func (c *fakeCommands) Lines() []cmdLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

func (c *fakeCommands) LinesOf(sessid uint64) []string {
	var out []string
	for _, l := range c.Lines() {
		if l.Sessid == sessid {
			out = append(out, l.Line)
		}
	}
	return out
}

// fakeLifecycle records reload, reset and shutdown requests.
type fakeLifecycle struct {
	mu    sync.Mutex
	calls []string
	err   error
}

var _ Lifecycle = (*fakeLifecycle)(nil)

func (l *fakeLifecycle) record(what string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, what)
	return l.err
}

func (l *fakeLifecycle) Reload(reason string) error   { return l.record("reload:" + reason) }
func (l *fakeLifecycle) Reset(reason string) error    { return l.record("reset:" + reason) }
func (l *fakeLifecycle) Shutdown(reason string) error { return l.record("shutdown:" + reason) }

func (l *fakeLifecycle) Calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// harness is a handler wired to fakes and a real store in a temporary
// directory. Tests that need no loop call handler methods directly; those
// that do (Async, LoginWithPassword) call start and then go through call.
type harness struct {
	t    *testing.T
	h    *ServerSessionHandler
	p    *fakePortals
	cmds *fakeCommands
	life *fakeLifecycle
	st   *store.Store
	// log holds what the handler logged.
	log *plugintest.LockedBuffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "portico.db"),
		store.Options{Argon2: store.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("store.Close: %v", err)
		}
	})
	return newHarnessOn(t, st)
}

// newHarnessOn makes a harness on an open store: a second one on the same
// store is the host after a reload or a restart.
func newHarnessOn(t *testing.T, st *store.Store) *harness {
	t.Helper()
	x := &harness{t: t, p: newFakePortals(), cmds: &fakeCommands{}, life: &fakeLifecycle{}, st: st, log: &plugintest.LockedBuffer{}}
	logger := slog.New(slog.NewTextHandler(x.log, nil))
	// The game's attribute store, as the host gives one (webclient
	// options live there); closed, so its writer ends, with the test.
	as := attrs.New(st, logger)
	t.Cleanup(func() {
		if err := as.Close(); err != nil {
			t.Errorf("attrs.Close: %v", err)
		}
	})
	x.h = NewServerSessionHandler(Options{Log: logger, Store: st, Portals: x.p,
		Commands: x.cmds, Lifecycle: x.life, Settings: testSettings, Attrs: as})
	// These tests stand for the host, which trusts its bots' logins; the
	// rule itself is tested in TestPortalConnectUntrustedClaim.
	x.h.SetTrustLogin(func(string, int64) bool { return true })
	return x
}

// start runs the handler's loop until the test ends.
func (x *harness) start() {
	x.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); x.h.Run(ctx) }()
	x.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitLimit):
			x.t.Errorf("Run did not return after its context ended")
		}
	})
}

// call runs f on the loop and waits for it.
func (x *harness) call(f func()) {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := x.h.Call(ctx, f); err != nil {
		x.t.Fatalf("Call: %v", err)
	}
}

// account creates an account (and its character) with password "secret".
func (x *harness) account(name string) store.Account {
	x.t.Helper()
	acc, err := x.st.CreateAccount(context.Background(), name, "secret", false)
	if err != nil {
		x.t.Fatalf("CreateAccount(%s): %v", name, err)
	}
	return acc
}

// connect announces a new unlogged-in session on plugin.
func (x *harness) connect(plugin string, id uint64) *ServerSession {
	x.t.Helper()
	x.h.PortalConnect(plugin, sessData(id, plugin))
	s := x.h.SessionFromSessid(id)
	if s == nil {
		x.t.Fatalf("session %d not created", id)
	}
	return s
}

// login connects a session and logs it in as acc, waiting until the login
// is saved and its plugin told.
func (x *harness) login(plugin string, id uint64, acc store.Account) *ServerSession {
	x.t.Helper()
	s := x.connect(plugin, id)
	x.h.Login(s, acc, false)
	x.settle()
	return s
}

// settle, for tests that drive the handler without its loop, waits for the
// async work in flight (login writes) and runs the continuations it posts
// on the test's goroutine, until nothing is left.
func (x *harness) settle() {
	x.t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case <-x.h.inflight.idleChan():
		case <-deadline:
			x.t.Fatal("async work did not finish")
		}
		select {
		case f := <-x.h.jobs:
			f()
		default:
			return
		}
	}
}

// savedLogins returns the login rows saved for plugin's sessions.
func (x *harness) savedLogins(plugin string) map[uint64]store.SessionLogin {
	x.t.Helper()
	rows, err := x.st.SessionLogins(context.Background(), plugin)
	if err != nil {
		x.t.Fatalf("SessionLogins(%s): %v", plugin, err)
	}
	return rows
}

// sessData is a fresh session's data as a plugin announces it.
func sessData(id uint64, protocol string) contract.SessionData {
	var d contract.SessionData
	d.InitSession(protocol, fmt.Sprintf("192.0.2.%d:50000", id%250+1), time.Now())
	d.Sessid = id
	return d
}

// dataOut is one decoded DataOut event.
type dataOut struct {
	Plugin  string
	Sessids []uint64
	Msgs    []contract.Message
}

func dataOuts(t *testing.T, evs []sentEvent) []dataOut {
	t.Helper()
	var out []dataOut
	for _, e := range evs {
		d := e.dataOut()
		if d == nil {
			continue
		}
		out = append(out, dataOut{Plugin: e.Plugin, Sessids: d.Sessids, Msgs: d.Messages})
	}
	return out
}

// msgsFor returns the messages named name (all when "") sent to sessid.
func msgsFor(t *testing.T, evs []sentEvent, sessid uint64, name string) []contract.Message {
	t.Helper()
	var out []contract.Message
	for _, d := range dataOuts(t, evs) {
		if !slices.Contains(d.Sessids, sessid) {
			continue
		}
		for _, m := range d.Msgs {
			if name == "" || m.Name == name {
				out = append(out, m)
			}
		}
	}
	return out
}

// textsFor returns the text messages sent to sessid, in order.
func textsFor(t *testing.T, evs []sentEvent, sessid uint64) []string {
	t.Helper()
	var out []string
	for _, m := range msgsFor(t, evs, sessid, "text") {
		s, _ := m.FirstString()
		out = append(out, s)
	}
	return out
}

func logins(evs []sentEvent) []*Login {
	var out []*Login
	for _, e := range evs {
		if l := e.login(); l != nil {
			out = append(out, l)
		}
	}
	return out
}

func disconnects(evs []sentEvent) []sentEvent {
	var out []sentEvent
	for _, e := range evs {
		if e.disconnect() != nil {
			out = append(out, e)
		}
	}
	return out
}

func syncs(evs []sentEvent) []sentEvent {
	var out []sentEvent
	for _, e := range evs {
		if e.sync() != nil {
			out = append(out, e)
		}
	}
	return out
}

func describe(t *testing.T, evs []sentEvent) string {
	t.Helper()
	var b []byte
	for _, e := range evs {
		b = fmt.Appendf(b, "\n  %s: %v", e.Plugin, e.Event)
	}
	if len(b) == 0 {
		return "nothing"
	}
	return string(b)
}

// sessids returns the ids of ss.
func sessids(ss []*ServerSession) []uint64 {
	out := make([]uint64, len(ss))
	for i, s := range ss {
		out[i] = s.Sessid
	}
	return out
}

var errFake = errors.New("fake failure")
