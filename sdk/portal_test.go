package sdk

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

func needSessids(evs []*portalpb.Event) int {
	n := 0
	for _, e := range evs {
		if e.GetNeedSessids() != nil {
			n++
		}
	}
	return n
}

func TestNewSessionIDsFromGrantedBlocks(t *testing.T) {
	p := newPortal(discardLog())
	p.grant(100, 10)
	var ids []uint64
	for range 4 {
		ids = append(ids, newSession(t, p, newFakeConn()).ID())
	}
	if evs := drain(t, p.Outbox()); len(evs) != 0 {
		t.Fatalf("asked early: %v", kinds(evs))
	}
	// The fifth id leaves half of the block of 10: time to ask for more.
	ids = append(ids, newSession(t, p, newFakeConn()).ID())
	if evs := drain(t, p.Outbox()); needSessids(evs) != 1 || len(evs) != 1 {
		t.Fatalf("after half the block: %v, want one need_sessids", kinds(evs))
	}
	// Asked once only, however many ids follow.
	for range 5 {
		ids = append(ids, newSession(t, p, newFakeConn()).ID())
	}
	if evs := drain(t, p.Outbox()); len(evs) != 0 {
		t.Fatalf("asked again: %v", kinds(evs))
	}
	if want := []uint64{100, 101, 102, 103, 104, 105, 106, 107, 108, 109}; !slices.Equal(ids, want) {
		t.Fatalf("ids = %v, want %v", ids, want)
	}
	if p.Count() != 10 {
		t.Errorf("Count = %d, want 10", p.Count())
	}

	// The block is used up: NewSession waits until the host grants more.
	got := make(chan *Session, 1)
	errc := make(chan error, 1)
	go func() {
		s, err := p.NewSession(testCtx(t), newFakeConn(), "telnet", "192.0.2.1")
		if err != nil {
			errc <- err
			return
		}
		got <- s
	}()
	none(t, got, "session before a grant")
	p.handleFrame(frame(&portalpb.Event{Kind: &portalpb.Event_GrantSessids{
		GrantSessids: &portalpb.GrantSessids{Start: 1000, Count: 4}}}))
	select {
	case s := <-got:
		if s.ID() != 1000 {
			t.Errorf("id after grant = %d, want 1000", s.ID())
		}
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(testTimeout):
		t.Fatal("NewSession did not wake on a grant")
	}
	// The new block of 4: 1000 taken leaves 3, 1001 leaves 2 = half: ask.
	if evs := drain(t, p.Outbox()); len(evs) != 0 {
		t.Fatalf("asked after 1 of 4: %v", kinds(evs))
	}
	if id := newSession(t, p, newFakeConn()).ID(); id != 1001 {
		t.Errorf("id = %d, want 1001", id)
	}
	if evs := drain(t, p.Outbox()); needSessids(evs) != 1 {
		t.Fatalf("after half of the second block: %v, want need_sessids", kinds(evs))
	}
}

func TestNewSessionUsesBlocksInOrder(t *testing.T) {
	p := newPortal(discardLog())
	p.grant(1, 2)
	p.grant(50, 0) // an empty grant is ignored
	p.grant(10, 2)
	var ids []uint64
	for range 4 {
		ids = append(ids, newSession(t, p, newFakeConn()).ID())
	}
	if want := []uint64{1, 2, 10, 11}; !slices.Equal(ids, want) {
		t.Errorf("ids = %v, want %v", ids, want)
	}
}

func TestNewSessionNoIDs(t *testing.T) {
	p := newPortal(discardLog())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	s, err := p.NewSession(ctx, newFakeConn(), "telnet", "192.0.2.1")
	if !errors.Is(err, ErrNoSessionID) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NewSession = %v, %v; want ErrNoSessionID wrapping the context's error", s, err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := p.NewSession(ctx2, newFakeConn(), "telnet", "x"); !errors.Is(err, ErrNoSessionID) || !errors.Is(err, context.Canceled) {
		t.Fatalf("NewSession on a cancelled context = %v", err)
	}
	// With no ids at all it asked the host, once.
	if evs := drain(t, p.Outbox()); len(evs) != 1 || needSessids(evs) != 1 {
		t.Errorf("events = %v, want one need_sessids", kinds(evs))
	}
	if p.Count() != 0 {
		t.Errorf("Count = %d", p.Count())
	}
}

func TestNewSessionConcurrentIDsUnique(t *testing.T) {
	p := newPortal(discardLog())
	p.grant(1, 50)
	const n = 200
	ids := make(chan uint64, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := p.NewSession(testCtx(t), newFakeConn(), "telnet", "x")
			if err != nil {
				t.Error(err)
				return
			}
			ids <- s.ID()
		}()
	}
	// A host that grants a block whenever the portal asks.
	ctx, cancel := context.WithCancel(context.Background())
	hostDone := make(chan error, 1)
	go func() {
		next := uint64(51)
		hostDone <- p.Outbox().Run(ctx, func(f *portalpb.Frame) error {
			for range needSessids(f.GetEvents()) {
				p.grant(next, 50)
				next += 50
			}
			return nil
		})
	}()
	wg.Wait()
	cancel()
	wait(t, hostDone, "host loop")
	close(ids)
	seen := map[uint64]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %d handed out twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Errorf("%d ids, want %d", len(seen), n)
	}
}

func TestConnectSendsWholeSyncData(t *testing.T) {
	p := NewTestPortal(discardLog())
	before := time.Now()
	s := newSession(t, p, newFakeConn())
	if s.ID() != 1 {
		t.Errorf("first test-portal id = %d, want 1", s.ID())
	}
	if evs := drain(t, p.Outbox()); len(evs) != 0 {
		t.Fatalf("events before Connect: %v", kinds(evs))
	}
	s.Connect()
	s.Connect() // once only
	evs := drain(t, p.Outbox())
	if len(evs) != 1 || evs[0].GetConnect() == nil {
		t.Fatalf("events = %v, want one connect", kinds(evs))
	}
	d, err := wire.SessionFromPB(evs[0].GetConnect().GetSession())
	if err != nil {
		t.Fatal(err)
	}
	if d.Sessid != s.ID() || d.ProtocolKey != "telnet" || d.Address != "192.0.2.1" || d.LoggedIn || d.UID != 0 {
		t.Errorf("connect data = %+v", d)
	}
	wantFlags := map[string]any{
		"ENCODING": "utf-8", "SCREENREADER": false, "INPUTDEBUG": false,
		"RAW": false, "NOCOLOR": false, "LOCALECHO": false,
	}
	if got := d.ProtocolFlags.Map(); !reflect.DeepEqual(got, wantFlags) {
		t.Errorf("protocol_flags = %v, want %v", got, wantFlags)
	}
	if len(d.ServerData) != 0 {
		t.Errorf("server_data = %v", d.ServerData)
	}
	if d.ConnTime.Before(before.Round(0)) || d.ConnTime.After(time.Now()) ||
		!d.CmdLast.Equal(d.ConnTime) || !d.CmdLastVisible.Equal(d.ConnTime) {
		t.Errorf("times: conn %v, cmd_last %v, cmd_last_visible %v", d.ConnTime, d.CmdLast, d.CmdLastVisible)
	}
	if p.Session(s.ID()) != s || len(p.All()) != 1 {
		t.Error("session not kept by the portal")
	}
}

func TestDataInBeforeConnectIsHeld(t *testing.T) {
	p := NewTestPortal(discardLog())
	s := newSession(t, p, newFakeConn())
	s.DataIn(Text("one"))
	s.DataIn() // nothing
	s.DataIn(Text("two"), Text("three"))
	if evs := drain(t, p.Outbox()); len(evs) != 0 {
		t.Fatalf("input sent before Connect: %v", kinds(evs))
	}
	s.Connect()
	s.DataIn(Text("four"))
	evs := drain(t, p.Outbox())
	if got := kinds(evs); !slices.Equal(got, []string{"connect", "data_in", "data_in"}) {
		t.Fatalf("events = %v", got)
	}
	if got := dataInTexts(t, evs[1]); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Errorf("held input = %q", got)
	}
	if evs[1].GetDataIn().GetSessid() != s.ID() {
		t.Errorf("held input sessid = %d", evs[1].GetDataIn().GetSessid())
	}
	if got := dataInTexts(t, evs[2]); !slices.Equal(got, []string{"four"}) {
		t.Errorf("later input = %q", got)
	}
}

func TestDataInBeforeConnectIsBounded(t *testing.T) {
	p := NewTestPortal(discardLog())
	s := newSession(t, p, newFakeConn())
	for i := range maxEarlyMessages + 10 {
		s.DataIn(Text(fmt.Sprint(i)))
	}
	s.Connect()
	evs := drain(t, p.Outbox())
	if len(evs) != 2 {
		t.Fatalf("events = %v", kinds(evs))
	}
	got := dataInTexts(t, evs[1])
	if len(got) != maxEarlyMessages || got[0] != "0" || got[maxEarlyMessages-1] != fmt.Sprint(maxEarlyMessages-1) {
		t.Errorf("held %d messages (%q ... ), want the first %d", len(got), got[0], maxEarlyMessages)
	}
}

func TestDataInCountsCommand(t *testing.T) {
	p := NewTestPortal(discardLog())
	s := newSession(t, p, newFakeConn())
	past := time.Now().Add(-time.Hour)
	s.Update(func(d *SessionData) { d.CmdLast = past })
	s.DataIn(Text("held")) // before Connect too
	if !s.GetSyncData().CmdLast.After(past) {
		t.Error("held DataIn did not move cmd_last")
	}
	s.Connect()
	s.Update(func(d *SessionData) { d.CmdLast = past })
	s.DataIn(Text("look"))
	if !s.GetSyncData().CmdLast.After(past) {
		t.Error("DataIn did not move cmd_last")
	}
}

func TestSync(t *testing.T) {
	p := NewTestPortal(discardLog())
	s := newSession(t, p, newFakeConn())
	s.Sync() // before Connect: nothing
	s.SetFlags(map[string]any{"TTYPE": true})
	if evs := drain(t, p.Outbox()); len(evs) != 0 {
		t.Fatalf("sync before Connect: %v", kinds(evs))
	}
	if !s.FlagBool("TTYPE") {
		t.Error("SetFlags before Connect did not set the flag")
	}
	s.Connect()
	drain(t, p.Outbox())

	s.Update(func(d *SessionData) {
		d.ProtocolFlags.Set(contract.FlagScreenWidth, 132)
		d.Sessid = 999 // Update keeps the id
	})
	s.Sync(contract.FieldProtocolFlags)
	s.SetFlags(map[string]any{contract.FlagClientName: "Mudlet"})
	s.Sync()
	evs := drain(t, p.Outbox())
	if got := kinds(evs); !slices.Equal(got, []string{"sync", "sync", "sync"}) {
		t.Fatalf("events = %v", got)
	}
	for i, wantFields := range [][]string{{"protocol_flags"}, {"protocol_flags"}, nil} {
		sy := evs[i].GetSync()
		if !slices.Equal(sy.GetFields(), wantFields) {
			t.Errorf("sync %d fields = %q, want %q", i, sy.GetFields(), wantFields)
		}
		d, err := wire.SessionFromPB(sy.GetSession())
		if err != nil {
			t.Fatal(err)
		}
		if d.Sessid != s.ID() || d.Sessid == 999 {
			t.Errorf("sync %d sessid = %d", i, d.Sessid)
		}
		if d.FlagInt(contract.FlagScreenWidth, 0) != 132 {
			t.Errorf("sync %d SCREENWIDTH = %v", i, d.Flag(contract.FlagScreenWidth))
		}
		if i > 0 && d.Flag(contract.FlagClientName) != "Mudlet" {
			t.Errorf("sync %d CLIENTNAME = %v", i, d.Flag(contract.FlagClientName))
		}
	}
	if s.Flag(contract.FlagClientName) != "Mudlet" {
		t.Error("Flag after SetFlags")
	}
}

func TestDisconnected(t *testing.T) {
	p := NewTestPortal(discardLog())
	conn := newFakeConn()
	s := newSession(t, p, conn)
	s.Connect()
	drain(t, p.Outbox())
	s.Disconnected("connection lost")
	s.Disconnected("again")
	s.DataIn(Text("after"))
	s.Sync()
	s.Connect()
	evs := drain(t, p.Outbox())
	if len(evs) != 1 || evs[0].GetDisconnected() == nil {
		t.Fatalf("events = %v, want one disconnected", kinds(evs))
	}
	if d := evs[0].GetDisconnected(); d.GetSessid() != s.ID() || d.GetReason() != "connection lost" {
		t.Errorf("disconnected = %v", d)
	}
	if p.Session(s.ID()) != nil || p.Count() != 0 {
		t.Error("session still kept")
	}
	none(t, conn.closes, "Conn.Close (Disconnected must not close)")
}

func TestDisconnectedBeforeConnectTellsNobody(t *testing.T) {
	p := NewTestPortal(discardLog())
	s := newSession(t, p, newFakeConn())
	s.DataIn(Text("held"))
	s.Disconnected("gone during negotiation")
	s.Connect()
	if evs := drain(t, p.Outbox()); len(evs) != 0 {
		t.Fatalf("events = %v, want none: the host never heard of the session", kinds(evs))
	}
	if p.Count() != 0 {
		t.Error("session still kept")
	}
}

func TestPortalDisconnect(t *testing.T) {
	p := NewTestPortal(discardLog())
	c1, c2, c3 := newFakeConn(), newFakeConn(), newFakeConn()
	s1, s2, s3 := newSession(t, p, c1), newSession(t, p, c2), newSession(t, p, c3)
	s1.Connect()
	s2.Connect()
	drain(t, p.Outbox())

	p.Disconnect(s1, "Idle timeout.")
	p.Disconnect(s1, "twice")
	if got := wait(t, c1.closes, "close"); got != "Idle timeout." {
		t.Errorf("close reason = %q", got)
	}
	none(t, c1.closes, "second close")
	evs := drain(t, p.Outbox())
	if len(evs) != 1 || evs[0].GetDisconnected().GetSessid() != s1.ID() || evs[0].GetDisconnected().GetReason() != "Idle timeout." {
		t.Fatalf("events = %v", evs)
	}

	p.DisconnectAll("Shutting down.")
	for _, c := range []*fakeConn{c2, c3} {
		if got := wait(t, c.closes, "close"); got != "Shutting down." {
			t.Errorf("close reason = %q", got)
		}
	}
	// Only the announced session is reported to the host.
	evs = drain(t, p.Outbox())
	if len(evs) != 1 || evs[0].GetDisconnected().GetSessid() != s2.ID() {
		t.Fatalf("events = %v, want one disconnected for %d", evs, s2.ID())
	}
	if p.Count() != 0 || p.Session(s3.ID()) != nil {
		t.Error("sessions left")
	}
}

// TestConcurrentConnectDisconnectOrder checks that the host never hears of
// a session's end (or input) before its start, whatever goroutines the
// plugin calls Connect, DataIn and Disconnected from.
func TestConcurrentConnectDisconnectOrder(t *testing.T) {
	p := NewTestPortal(discardLog())
	const n = 300
	var wg sync.WaitGroup
	for range n {
		s := newSession(t, p, newFakeConn())
		wg.Add(3)
		go func() { defer wg.Done(); s.Connect() }()
		go func() { defer wg.Done(); s.DataIn(Text("x")) }()
		go func() { defer wg.Done(); s.Disconnected("bye") }()
	}
	wg.Wait()
	type state struct{ connected, disconnected bool }
	seen := map[uint64]*state{}
	get := func(id uint64) *state {
		if seen[id] == nil {
			seen[id] = &state{}
		}
		return seen[id]
	}
	for _, e := range drain(t, p.Outbox()) {
		switch {
		case e.GetConnect() != nil:
			st := get(e.GetConnect().GetSession().GetSessid())
			if st.connected || st.disconnected {
				t.Fatalf("connect out of order: %+v", st)
			}
			st.connected = true
		case e.GetDataIn() != nil:
			st := get(e.GetDataIn().GetSessid())
			if !st.connected || st.disconnected {
				t.Fatalf("session %d: data in outside connect..disconnected: %+v", e.GetDataIn().GetSessid(), st)
			}
		case e.GetDisconnected() != nil:
			st := get(e.GetDisconnected().GetSessid())
			if !st.connected || st.disconnected {
				t.Fatalf("session %d: disconnected without a connect before it: %+v", e.GetDisconnected().GetSessid(), st)
			}
			st.disconnected = true
		}
	}
	for id, st := range seen {
		if st.connected && !st.disconnected {
			t.Errorf("session %d connected and never disconnected", id)
		}
	}
}

func TestDataInBusyTellsClient(t *testing.T) {
	p := newPortal(discardLog())
	p.outbox = wire.NewOutbox(2)
	p.grant(1, 1<<20)
	conn := newFakeConn()
	s := newSession(t, p, conn)
	s.DataIn(Text("early"))
	s.Connect() // connect + held input: the outbox is full
	s.DataIn(Text("refused"))
	call := wait(t, conn.sends, "busy notice")
	if call.s != s || len(call.msgs) != 1 || call.msgs[0].Name != "text" {
		t.Fatalf("notice = %+v", call)
	}
	if txt, _ := call.msgs[0].FirstString(); txt != msgBusy {
		t.Errorf("notice = %q", txt)
	}
	none(t, conn.sends, "second notice")
}

func TestHandleDataOut(t *testing.T) {
	p := NewTestPortal(discardLog())
	c1, c2, c3 := newFakeConn(), newFakeConn(), newFakeConn()
	s1, s2, _ := newSession(t, p, c1), newSession(t, p, c2), newSession(t, p, c3)
	msgs := []Message{
		Text("Hello |rworld|n"),
		contract.Prompt("> "),
		{Name: "gmcp", Args: []any{"Char.Vitals", 3}, Kwargs: map[string]any{"options": map[string]any{"x": 1.5}}},
	}
	pms, err := wire.MessagesToPB(msgs)
	if err != nil {
		t.Fatal(err)
	}
	p.handleFrame(frame(&portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{
		Sessids: []uint64{s1.ID(), 9999, s2.ID()}, Messages: pms}}}))
	want := []Message{
		{Name: "text", Args: []any{"Hello |rworld|n"}},
		{Name: "prompt", Args: []any{"> "}},
		{Name: "gmcp", Args: []any{"Char.Vitals", int64(3)}, Kwargs: map[string]any{"options": map[string]any{"x": 1.5}}},
	}
	for i, c := range []*fakeConn{c1, c2} {
		call := wait(t, c.sends, "send")
		if call.s != []*Session{s1, s2}[i] {
			t.Errorf("conn %d: Send for the wrong session", i)
		}
		if !reflect.DeepEqual(call.msgs, want) {
			t.Errorf("conn %d: Send(%#v), want %#v", i, call.msgs, want)
		}
		none(t, c.sends, "second send")
	}
	none(t, c3.sends, "send to an unlisted session")

	// Bad data from the host is dropped, not delivered half-decoded.
	p.handleFrame(frame(&portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{
		Sessids: []uint64{s1.ID()}, Messages: []*portalpb.Message{{Name: "x", ArgsJson: []byte("[")}}}}}))
	none(t, c1.sends, "send of bad data")
}

func TestHandleDisconnect(t *testing.T) {
	p := NewTestPortal(discardLog())
	c1, c2 := newFakeConn(), newFakeConn()
	s1, s2 := newSession(t, p, c1), newSession(t, p, c2)
	s1.Connect()
	s2.Connect()
	drain(t, p.Outbox())
	dis := &portalpb.Event{Kind: &portalpb.Event_Disconnect{Disconnect: &portalpb.Disconnect{Sessid: s1.ID(), Reason: "Kicked."}}}
	p.handleFrame(frame(dis, dis))
	if got := wait(t, c1.closes, "close"); got != "Kicked." {
		t.Errorf("close reason = %q", got)
	}
	none(t, c1.closes, "second close")
	none(t, c2.closes, "close of another session")
	if p.Session(s1.ID()) != nil || p.Session(s2.ID()) != s2 {
		t.Error("wrong sessions kept")
	}
	if evs := drain(t, p.Outbox()); len(evs) != 0 {
		t.Errorf("events = %v: the host already knows", kinds(evs))
	}
	s1.Disconnected("late") // the plugin's reader notices after
	if evs := drain(t, p.Outbox()); len(evs) != 0 {
		t.Errorf("events = %v after a host disconnect", kinds(evs))
	}
	// Unknown session: nothing.
	p.handleEvent(&portalpb.Event{Kind: &portalpb.Event_Disconnect{Disconnect: &portalpb.Disconnect{Sessid: 12345}}})
}

func TestHandleLogin(t *testing.T) {
	p := NewTestPortal(discardLog())
	nc, pc := newNotifyConn(), newFakeConn()
	s1, s2 := newSession(t, p, nc), newSession(t, p, pc)
	for _, s := range []*Session{s1, s2} {
		p.handleEvent(&portalpb.Event{Kind: &portalpb.Event_Login{Login: &portalpb.Login{
			Sessid: s.ID(), Uid: 7, Uname: "Alice", Puid: 21}}})
		if !s.LoggedIn() {
			t.Error("not logged in")
		}
		d := s.GetSyncData()
		if d.UID != 7 || d.UName != "Alice" || d.PUID != 21 || !d.LoggedIn {
			t.Errorf("data after login = %+v", d)
		}
	}
	if got := wait(t, nc.logins, "LoggedIn"); got != s1 {
		t.Error("LoggedIn for the wrong session")
	}
	none(t, nc.logins, "second LoggedIn")
	p.handleEvent(&portalpb.Event{Kind: &portalpb.Event_Login{Login: &portalpb.Login{Sessid: 12345}}})
}

func TestHandleSync(t *testing.T) {
	p := NewTestPortal(discardLog())
	nc := newNotifyConn()
	s := newSession(t, p, nc)
	s.Update(func(d *SessionData) { d.SetServerData("old", true) })

	host := s.GetSyncData()
	host.ProtocolFlags = contract.FlagsOf(map[string]any{contract.FlagNoColor: true, contract.FlagScreenWidth: 100})
	host.ServerData = map[string]any{"puppet": "#3"}
	host.UName = "Bob"
	p.handleEvent(&portalpb.Event{Kind: &portalpb.Event_Sync{Sync: &portalpb.SessionSync{
		Session: pbSession(t, host), Fields: []string{contract.FieldProtocolFlags}}}})
	if got := wait(t, nc.syncs, "Synced"); got != s {
		t.Error("Synced for the wrong session")
	}
	d := s.GetSyncData()
	if !d.FlagBool(contract.FlagNoColor) || d.FlagInt(contract.FlagScreenWidth, 0) != 100 || d.Encoding() != "utf-8" ||
		d.Flag(contract.FlagLocalEcho) != false {
		t.Errorf("flags not merged: %v", d.ProtocolFlags)
	}
	if d.UName != "" || d.ServerData["old"] != true {
		t.Errorf("fields not named were loaded: %+v", d)
	}

	// A whole sync loads every field; server_data is replaced.
	p.handleEvent(&portalpb.Event{Kind: &portalpb.Event_Sync{Sync: &portalpb.SessionSync{Session: pbSession(t, host)}}})
	wait(t, nc.syncs, "Synced")
	d = s.GetSyncData()
	if d.UName != "Bob" || d.ServerData["puppet"] != "#3" || d.ServerData["old"] != nil || d.Sessid != s.ID() {
		t.Errorf("whole sync: %+v", d)
	}
	if d.Encoding() != "utf-8" {
		t.Error("whole sync replaced the flags instead of merging")
	}

	// Unknown session, missing data, bad data: ignored.
	other := host
	other.Sessid = 12345
	p.handleEvent(&portalpb.Event{Kind: &portalpb.Event_Sync{Sync: &portalpb.SessionSync{Session: pbSession(t, other)}}})
	p.handleEvent(&portalpb.Event{Kind: &portalpb.Event_Sync{Sync: &portalpb.SessionSync{}}})
	p.handleEvent(&portalpb.Event{Kind: &portalpb.Event_Sync{Sync: &portalpb.SessionSync{
		Session: &portalpb.SessionData{Sessid: s.ID(), ProtocolFlags: []byte("[")}}}})
	none(t, nc.syncs, "Synced for ignored syncs")

	// A plain Conn is not notified, and that is fine.
	s2 := newSession(t, p, newFakeConn())
	d2 := s2.GetSyncData()
	d2.UName = "Carol"
	p.handleEvent(&portalpb.Event{Kind: &portalpb.Event_Sync{Sync: &portalpb.SessionSync{Session: pbSession(t, d2)}}})
	if s2.GetSyncData().UName != "Carol" {
		t.Error("sync to a plain conn not loaded")
	}
}

func TestHandleSyncAll(t *testing.T) {
	for _, clean := range []bool{false, true} {
		t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) {
			p := NewTestPortal(discardLog())
			ca, cb, cc := newNotifyConn(), newFakeConn(), newFakeConn()
			a, b, c := newSession(t, p, ca), newSession(t, p, cb), newSession(t, p, cc)
			a.Connect()
			b.Connect()
			// c is still negotiating: the host cannot know it.
			drain(t, p.Outbox())

			da := a.GetSyncData()
			da.UName, da.LoggedIn = "Alice", true
			p.handleFrame(frame(&portalpb.Event{Kind: &portalpb.Event_SyncAll{SyncAll: &portalpb.SyncAll{
				Sessions: []*portalpb.SessionData{pbSession(t, da)}, Clean: clean}}}))
			wait(t, ca.syncs, "Synced")
			if got := a.GetSyncData(); got.UName != "Alice" || !got.LoggedIn {
				t.Errorf("listed session not loaded: %+v", got)
			}
			none(t, ca.closes, "close of a listed session")
			none(t, cc.closes, "close of an unannounced session")
			if p.Session(c.ID()) != c {
				t.Error("unannounced session dropped")
			}
			if clean {
				if got := wait(t, cb.closes, "close"); got != "" {
					t.Errorf("close reason = %q", got)
				}
				if p.Session(b.ID()) != nil {
					t.Error("unlisted session kept")
				}
			} else {
				none(t, cb.closes, "close without clean")
				if p.Session(b.ID()) != b {
					t.Error("unlisted session dropped without clean")
				}
			}
			if evs := drain(t, p.Outbox()); len(evs) != 0 {
				t.Errorf("events = %v", kinds(evs))
			}
		})
	}
}

func TestHandleDisconnectAll(t *testing.T) {
	p := NewTestPortal(discardLog())
	conns := []*fakeConn{newFakeConn(), newFakeConn(), newFakeConn()}
	for i, c := range conns {
		s := newSession(t, p, c)
		if i < 2 {
			s.Connect()
		}
	}
	drain(t, p.Outbox())
	p.handleEvent(&portalpb.Event{Kind: &portalpb.Event_DisconnectAll{DisconnectAll: &portalpb.DisconnectAll{Reason: "Server shutting down."}}})
	for _, c := range conns {
		if got := wait(t, c.closes, "close"); got != "Server shutting down." {
			t.Errorf("close reason = %q", got)
		}
	}
	if p.Count() != 0 {
		t.Errorf("Count = %d", p.Count())
	}
	if evs := drain(t, p.Outbox()); len(evs) != 0 {
		t.Errorf("events = %v", kinds(evs))
	}
}

func TestHandleFrameInOrder(t *testing.T) {
	p := NewTestPortal(discardLog())
	nc := newNotifyConn()
	s := newSession(t, p, nc)
	pms, _ := wire.MessagesToPB([]Message{Text("Welcome, Alice.")})
	p.handleFrame(frame(
		&portalpb.Event{Kind: &portalpb.Event_Login{Login: &portalpb.Login{Sessid: s.ID(), Uid: 1, Uname: "Alice"}}},
		&portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: []uint64{s.ID()}, Messages: pms}}},
		&portalpb.Event{Kind: &portalpb.Event_Disconnect{Disconnect: &portalpb.Disconnect{Sessid: s.ID(), Reason: "bye"}}},
		// After the disconnect: not delivered.
		&portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: []uint64{s.ID()}, Messages: pms}}},
	))
	wait(t, nc.logins, "LoggedIn")
	call := wait(t, nc.sends, "send")
	if !call.s.LoggedIn() {
		t.Error("data out applied before the login before it")
	}
	if got := wait(t, nc.closes, "close"); got != "bye" {
		t.Errorf("close reason = %q", got)
	}
	none(t, nc.sends, "send after disconnect")
}

func TestHandleUnexpectedEvents(t *testing.T) {
	p := NewTestPortal(discardLog())
	s := newSession(t, p, newFakeConn())
	// Empty events and plugin→host kinds from the host are logged, not fatal.
	p.handleFrame(frame(
		&portalpb.Event{},
		&portalpb.Event{Kind: &portalpb.Event_Connect{Connect: &portalpb.Connect{}}},
		&portalpb.Event{Kind: &portalpb.Event_NeedSessids{NeedSessids: &portalpb.NeedSessids{}}},
	))
	p.handleFrame(nil)
	if p.Session(s.ID()) != s {
		t.Error("session lost")
	}
}

func TestTestPortalAccessors(t *testing.T) {
	log := discardLog()
	p := NewTestPortal(log)
	if p.Log() != log {
		t.Error("Log")
	}
	if p.Host() != (HostInfo{}) {
		t.Errorf("Host = %+v", p.Host())
	}
	conn := newFakeConn()
	s := newSession(t, p, conn)
	if s.Conn() != conn {
		t.Error("Conn")
	}
}

func TestUnencodableDataIsDropped(t *testing.T) {
	p := NewTestPortal(discardLog())
	conn := newFakeConn()
	s := newSession(t, p, conn)
	s.Update(func(d *SessionData) { d.ProtocolFlags.Set("bad", func() {}) })
	s.Connect() // logged, not sent
	s.Sync()
	s.DataIn(Message{Name: "bad", Args: []any{make(chan int)}})
	if evs := drain(t, p.Outbox()); len(evs) != 0 {
		t.Errorf("events = %v", kinds(evs))
	}
	none(t, conn.sends, "a busy notice for unencodable input")

	// A full outbox drops what the portal cannot queue, without blocking.
	p2 := newPortal(discardLog())
	p2.outbox = wire.NewOutbox(1)
	p2.grant(1, 2) // the first id leaves half: the ask fills the outbox
	newSession(t, p2, newFakeConn())
	s2 := newSession(t, p2, newFakeConn())
	s2.Connect()
	if evs := drain(t, p2.Outbox()); len(evs) != 1 || needSessids(evs) != 1 {
		t.Errorf("events = %v, want only the need_sessids that fitted", kinds(evs))
	}
}

// A host sends a large clean sync in parts (core/plugins
// encodeSyncAllParts): syncs of the sessions that are not clean, then a
// clean sync listing every session by id with only the sessid field. The
// parts' data stays loaded, the id-only list changes none of it, and the
// sessions no part listed are dropped.
func TestHandleSyncAllInParts(t *testing.T) {
	p := NewTestPortal(discardLog())
	conns := []*fakeConn{newFakeConn(), newFakeConn(), newFakeConn()}
	var ss []*Session
	for _, c := range conns {
		s := newSession(t, p, c)
		s.Connect()
		ss = append(ss, s)
	}
	drain(t, p.Outbox())
	names := []string{"Alice", "Bob"}
	var ids []*portalpb.SessionData
	for i, name := range names {
		d := ss[i].GetSyncData()
		d.UName, d.LoggedIn, d.UID = name, true, int64(i+1)
		p.handleEvent(&portalpb.Event{Kind: &portalpb.Event_SyncAll{SyncAll: &portalpb.SyncAll{
			Sessions: []*portalpb.SessionData{pbSession(t, d)}, Fields: []string{contract.FieldUName, contract.FieldLoggedIn, contract.FieldUID}}}})
		ids = append(ids, &portalpb.SessionData{Sessid: ss[i].ID()})
	}
	p.handleEvent(&portalpb.Event{Kind: &portalpb.Event_SyncAll{SyncAll: &portalpb.SyncAll{
		Sessions: ids, Clean: true, Fields: []string{contract.FieldSessid}}}})
	for i, name := range names {
		got := ss[i].GetSyncData()
		if got.UName != name || !got.LoggedIn || got.UID != int64(i+1) || got.ProtocolKey != "telnet" {
			t.Errorf("session %d after the parts: %+v", i, got)
		}
		none(t, conns[i].closes, "close of a listed session")
	}
	wait(t, conns[2].closes, "close of the session no part listed")
	if p.Session(ss[2].ID()) != nil {
		t.Error("the session no part listed was kept")
	}
}
