package sessions

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
)

// in runs messages through the session's inputfuncs as input from its
// plugin.
func (x *harness) in(s *ServerSession, msgs ...contract.Message) {
	x.h.DataIn(s.Plugin, s.Sessid, msgs)
}

func msg(name string, args []any, kwargs map[string]any) contract.Message {
	return contract.Message{Name: name, Args: args, Kwargs: kwargs}
}

func TestInputText(t *testing.T) {
	x := newHarness(t)
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	x.h.now = func() time.Time { return now }
	s := x.connect("telnet", 1)
	start := s.CmdLast

	x.in(s, msg("text", nil, nil), msg("text", []any{nil}, nil))
	if s.CmdTotal != 0 || !s.CmdLast.Equal(start) {
		t.Errorf("empty text moved the counters: total %d", s.CmdTotal)
	}

	x.in(s, contract.Text("  look here \r\n"))
	if got := x.cmds.LinesOf(1); !slices.Equal(got, []string{"look", "look here"}) {
		t.Errorf("commands = %q, want the trimmed line", got)
	}
	if s.CmdTotal != 1 || !s.CmdLast.Equal(now) || !s.CmdLastVisible.Equal(now) {
		t.Errorf("after a command: total %d last %v visible %v", s.CmdTotal, s.CmdLast, s.CmdLastVisible)
	}

	// "idle" only keeps the session alive.
	now = now.Add(time.Minute)
	x.in(s, contract.Text(" idle "))
	if s.CmdTotal != 1 || !s.CmdLast.Equal(now) || s.CmdLastVisible.Equal(now) {
		t.Errorf("after idle: total %d last %v visible %v; want only cmd_last moved", s.CmdTotal, s.CmdLast, s.CmdLastVisible)
	}
	if got := x.cmds.LinesOf(1); len(got) != 2 {
		t.Errorf("idle reached the command parser: %q", got)
	}

	// bot_data_in follows the same path; a non-string argument is formatted.
	x.in(s, msg("bot_data_in", []any{int64(42)}, nil))
	if got := x.cmds.LinesOf(1); got[len(got)-1] != "42" {
		t.Errorf("bot_data_in ran %q", got)
	}
}

func TestInputTextPrompted(t *testing.T) {
	x := newHarness(t)
	s := x.connect("telnet", 1)
	var answers []string
	s.Prompted = func(ps *ServerSession, line string) {
		if ps != s {
			t.Error("Prompted got another session")
		}
		answers = append(answers, line)
	}
	// Even "idle" is an answer when one is expected (it may be a password).
	x.in(s, contract.Text(" idle \r\n"))
	if !slices.Equal(answers, []string{" idle "}) || s.Prompted != nil {
		t.Errorf("answers = %q, prompted still set %v; want the line with only CR/LF trimmed", answers, s.Prompted != nil)
	}
	if s.CmdTotal != 1 {
		t.Errorf("an answer counts as a command: total %d", s.CmdTotal)
	}
	x.in(s, contract.Text("next"))
	if got := x.cmds.LinesOf(1); !slices.Equal(got, []string{"look", "next"}) {
		t.Errorf("commands = %q; the line after the answer goes to the parser", got)
	}
}

func TestInputEcho(t *testing.T) {
	x := newHarness(t)
	s := x.connect("telnet", 1)
	x.in(s,
		msg("echo", []any{"hello"}, nil),
		msg("echo", []any{"it's", int64(2), true, nil, []any{"a"}}, map[string]any{"b": int64(1), "a": "x", "options": map[string]any{}}),
		msg("echo", nil, nil),
	)
	want := []string{
		"Echo returns: ('hello',), {}",
		`Echo returns: ('it\'s', 2, True, None, ['a']), {'a': 'x', 'b': 1}`,
		"Echo returns: (), {}",
	}
	if got := textsFor(t, x.p.Events(), 1); !slices.Equal(got, want) {
		t.Errorf("echo = %q, want %q", got, want)
	}
}

func TestInputDefault(t *testing.T) {
	x := newHarness(t)
	s := x.connect("telnet", 3)
	x.in(s, msg("Core.Hello", nil, nil))
	if evs := x.p.Events(); len(evs) != 0 {
		t.Errorf("unknown input told the client without INPUTDEBUG: %s", describe(t, evs))
	}
	s.ProtocolFlags.Set(contract.FlagInputDebug, true)
	x.in(s, msg("Core.Hello", nil, nil))
	if got := textsFor(t, x.p.Events(), 3); !slices.Equal(got, []string{"Session 3: Input command not recognized:\n core.hello"}) {
		t.Errorf("texts = %q", got)
	}
}

func TestInputClientOptionsGet(t *testing.T) {
	x := newHarness(t)
	s := x.connect("telnet", 1)
	s.ProtocolFlags.Set("ANSI", true)
	s.ProtocolFlags.Set("SCREENWIDTH", 100)
	s.ProtocolFlags.Set("TTYPE", "not reported")
	for _, m := range []contract.Message{
		msg("client_options", nil, nil),
		msg("client_options", nil, map[string]any{"get": true}),
		msg("get_client_options", nil, nil),
		msg("hello", nil, nil),
		msg("supports_set", nil, map[string]any{"options": map[string]any{}}),
	} {
		x.p.Reset()
		x.in(s, m)
		got := msgsFor(t, x.p.Events(), 1, "client_options")
		if len(got) != 1 {
			t.Errorf("%s: client_options sent %d times", m.Name, len(got))
			continue
		}
		kw := got[0].Kwargs
		if kw["ANSI"] != true || kw["SCREENWIDTH"] != int64(100) || kw["ENCODING"] != "utf-8" || kw["RAW"] != false {
			t.Errorf("%s: client_options = %v", m.Name, kw)
		}
		if _, ok := kw["TTYPE"]; ok {
			t.Errorf("%s: reported a flag that is not a client option", m.Name)
		}
		if len(syncs(x.p.Events())) != 0 {
			t.Errorf("%s: getting options synced the session", m.Name)
		}
	}
}

func TestInputClientOptionsSet(t *testing.T) {
	x := newHarness(t)
	s := x.connect("telnet", 1)
	x.in(s, msg("client_options", nil, map[string]any{
		"client": "Mudlet", "version": "4.17", "ANSI": "true", "xterm256": "on", "nocolor": "0",
		"screenwidth": "100", "SCREENHEIGHT": int64(40), "Char 1": "", "utf-8": true,
		"options": map[string]any{"ignored": true},
	}))
	f := s.ProtocolFlags.Map()
	if f["CLIENTNAME"] != "Mudlet 4.17" {
		t.Errorf("CLIENTNAME = %v, want the version appended", f["CLIENTNAME"])
	}
	if f["ANSI"] != true || f["XTERM256"] != true || f["NOCOLOR"] != false || f["UTF-8"] != true {
		t.Errorf("bool flags = %v", f)
	}
	if s.ScreenWidth() != 100 || s.ScreenHeight() != 40 {
		t.Errorf("size = %dx%d, want 100x40", s.ScreenWidth(), s.ScreenHeight())
	}
	evs := x.p.Events()
	if got := textsFor(t, evs, 1); len(got) != 0 {
		t.Errorf("good options were answered with %q", got)
	}
	ss := syncs(evs)
	if len(ss) != 1 || !slices.Equal(ss[0].sync().Fields, []string{contract.FieldProtocolFlags}) {
		t.Fatalf("syncs = %s, want one partial protocol_flags sync", describe(t, ss))
	}
	if d := ss[0].sync().Session; d.ProtocolFlags.Value("CLIENTNAME") != "Mudlet 4.17" {
		t.Errorf("synced flags = %v", d.ProtocolFlags)
	}

	// A version alone is appended to the name the session already has.
	s.ProtocolFlags.Set("CLIENTNAME", "TinTin++")
	x.in(s, msg("client_options", nil, map[string]any{"version": "2.02"}))
	if got := s.FlagString("CLIENTNAME"); got != "TinTin++ 2.02" {
		t.Errorf("CLIENTNAME = %v", got)
	}
	// Evennia's default screen size when unknown.
	if s2 := x.connect("telnet", 2); s2.ScreenWidth() != 78 || s2.ScreenHeight() != 45 {
		t.Errorf("default size = %dx%d, want 78x45", s2.ScreenWidth(), s2.ScreenHeight())
	}
}

func TestInputClientOptionsBadKeysAndEncoding(t *testing.T) {
	x := newHarness(t)
	s := x.connect("telnet", 1)
	x.in(s, msg("client_options", nil, map[string]any{"Bogus": true, "screenwidth": "wide"}))
	want := []string{
		"Inputfunc client_options(1): Wrong/unrecognized input: Bogus",
		"Inputfunc client_options(1): Wrong/unrecognized input: screenwidth",
	}
	if got := textsFor(t, x.p.Events(), 1); !slices.Equal(got, want) {
		t.Errorf("texts = %q, want %q", got, want)
	}
	if len(syncs(x.p.Events())) != 0 {
		t.Error("nothing changed, yet the session was synced")
	}

	x.p.Reset()
	x.in(s, msg("client_options", nil, map[string]any{"encoding": "Latin-1"}))
	if s.Encoding() != "latin-1" {
		t.Errorf("encoding = %q, want latin-1 (Evennia rejects it: a bug not kept)", s.Encoding())
	}
	if len(syncs(x.p.Events())) != 1 {
		t.Error("an encoding change was not synced")
	}
	x.p.Reset()
	x.in(s, msg("client_options", nil, map[string]any{"encoding": "klingon"}))
	if got := textsFor(t, x.p.Events(), 1); !slices.Equal(got, []string{"Inputfunc client_options(1): unsupported encoding: klingon"}) {
		t.Errorf("texts = %q", got)
	}
	if s.Encoding() != "latin-1" {
		t.Errorf("a bad encoding changed the session's: %q", s.Encoding())
	}
}

func TestInputGetInputfuncs(t *testing.T) {
	x := newHarness(t)
	s := x.connect("telnet", 1)
	x.in(s, msg("get_inputfuncs", nil, nil))
	got := msgsFor(t, x.p.Events(), 1, "get_inputfuncs")
	if len(got) != 1 {
		t.Fatalf("get_inputfuncs sent %d times", len(got))
	}
	kw := got[0].Kwargs
	if len(kw) != len(x.h.GetInputfuncs()) {
		t.Errorf("listed %d inputfuncs, have %d", len(kw), len(x.h.GetInputfuncs()))
	}
	if kw["echo"] != x.h.GetInputfuncs()["echo"].Doc || kw["text"] == "" {
		t.Errorf("docs = %v", kw)
	}
}

func TestInputLogin(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	x.start()
	x.call(func() {
		x.connect("websocket", 1)
		x.connect("websocket", 2)
		x.h.DataIn("websocket", 1, []contract.Message{msg("login", nil, map[string]any{"name": "Alice", "password": "nope"})})
		x.h.DataIn("websocket", 2, []contract.Message{msg("login", nil, map[string]any{"name": "Alice", "password": "secret"})})
	})
	x.p.waitText(t, 1, MsgBadLogin)
	x.p.waitFor(t, "login of session 2", func(evs []sentEvent) bool {
		ls := logins(evs)
		return len(ls) == 1 && ls[0].Sessid == 2 && ls[0].UID == acc.ID
	})
	x.call(func() {
		x.h.DataIn("websocket", 2, []contract.Message{msg("login", nil, map[string]any{"name": "Alice", "password": "secret"})})
	})
	x.p.waitText(t, 2, MsgAlreadyLogged)
}

func TestInputGetValue(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	s := x.connect("telnet", 1)
	values := func(kw map[string]any) []contract.Message {
		x.p.Reset()
		x.in(s, msg("get_value", nil, kw))
		return msgsFor(t, x.p.Events(), 1, "get_value")
	}
	if got := values(map[string]any{"name": "servername"}); len(got) != 1 ||
		got[0].Kwargs["name"] != "servername" || got[0].Kwargs["value"] != "Portico Test" {
		t.Errorf("servername = %+v", got)
	}
	if got := values(map[string]any{"name": "name"}); len(got) != 1 || got[0].Kwargs["value"] != nil {
		t.Errorf("name before login = %+v, want None", got)
	}
	if got := values(map[string]any{"name": "location"}); len(got) != 1 || got[0].Kwargs["value"] != nil {
		t.Errorf("location = %+v, want None", got)
	}
	if got := values(map[string]any{"name": "secret_sauce"}); len(got) != 0 {
		t.Errorf("unknown value answered: %+v", got)
	}
	x.h.Login(s, acc, false)
	x.settle()
	for _, name := range []string{"name", "key"} {
		if got := values(map[string]any{"name": name}); len(got) != 1 || got[0].Kwargs["value"] != "Alice" {
			t.Errorf("%s after login = %+v, want Alice", name, got)
		}
	}
}

func TestInputRepeat(t *testing.T) {
	x := newHarness(t)
	x.start()
	var s *ServerSession
	x.call(func() {
		s = x.connect("websocket", 1)
		x.in(s, msg("repeat", nil, map[string]any{"callback": "rm -rf"}))
		x.in(s, msg("repeat", nil, map[string]any{"callback": "test1", "interval": "soon"}))
		x.in(s, msg("repeat", nil, map[string]any{"callback": "test1", "interval": int64(1)}))
		x.in(s, msg("repeat", nil, map[string]any{"callback": "test2"}))
	})
	want := []string{"Allowed repeating functions are: test1, test2", "repeat: interval must be a whole number of seconds."}
	if got := textsFor(t, x.p.Events(), 1); !slices.Equal(got, want) {
		t.Errorf("texts = %q, want %q", got, want)
	}
	var n int
	x.call(func() {
		n = len(s.repeats)
		// Do not wait the 5 s minimum: make test1's timer fire now.
		s.repeats["test1"].Reset(time.Millisecond)
	})
	if n != 2 {
		t.Fatalf("repeats running = %d, want 2", n)
	}
	evs := x.p.waitFor(t, "a repeat call", func(evs []sentEvent) bool { return len(msgsFor(t, evs, 1, "repeat")) > 0 })
	if m := msgsFor(t, evs, 1, "repeat")[0]; !strings.HasPrefix(m.Args[0].(string), "Repeat called: ") {
		t.Errorf("repeat sent %+v", m)
	}
	var rearmed bool
	x.call(func() {
		rearmed = s.repeats["test1"] != nil
		x.in(s, msg("unrepeat", nil, map[string]any{"callback": "test1"}))
		x.in(s, msg("repeat", nil, map[string]any{"callback": "test2", "stop": true}))
		n = len(s.repeats)
	})
	if !rearmed {
		t.Error("a repeat did not re-arm after firing")
	}
	if n != 0 {
		t.Errorf("repeats after unrepeat and stop = %d, want 0", n)
	}

	// Disconnecting stops the session's repeats.
	x.call(func() {
		x.in(s, msg("repeat", nil, map[string]any{"callback": "test1"}))
		x.h.Disconnect(s, "", false)
		n = len(s.repeats)
	})
	if n != 0 {
		t.Errorf("repeats after disconnect = %d", n)
	}
}

// A timer that fired just before the repeat was restarted must not start a
// second chain of calls beside the new one.
func TestInputRepeatRestartDropsStaleFire(t *testing.T) {
	x := newHarness(t) // no Run: the test drives the queue itself
	s := x.connect("telnet", 1)
	x.in(s, msg("repeat", nil, map[string]any{"callback": "test1"}))
	old := s.repeats["test1"]
	old.Reset(0) // fires now and posts its work to the loop
	var fired func()
	select {
	case fired = <-x.h.jobs:
	case <-time.After(waitLimit):
		t.Fatal("the repeat timer did not post to the loop")
	}
	x.in(s, msg("repeat", nil, map[string]any{"callback": "test1", "interval": int64(30)}))
	current := s.repeats["test1"]
	fired()
	if s.repeats["test1"] != current {
		t.Error("a stale timer replaced the restarted repeat's timer, leaving two running")
	}
	if got := msgsFor(t, x.p.Events(), 1, "repeat"); len(got) != 0 {
		t.Errorf("a stale timer sent %+v", got)
	}
	x.h.Disconnect(s, "", false)
}

func TestInputWebclientOptions(t *testing.T) {
	x := newHarness(t)
	s := x.connect("websocket", 1)
	get := func() map[string]any {
		x.p.Reset()
		x.in(s, msg("webclient_options", nil, map[string]any{"cmdid": int64(3)}))
		got := msgsFor(t, x.p.Events(), 1, "webclient_options")
		if len(got) != 1 {
			t.Fatalf("webclient_options sent %d times", len(got))
		}
		return got[0].Kwargs
	}
	kw := get()
	if kw["gagprompt"] != true || kw["helppopup"] != false || kw["notification_popup"] != false || kw["notification_sound"] != false {
		t.Errorf("defaults = %v", kw)
	}

	x.p.Reset()
	x.in(s, msg("webclient_options", nil, map[string]any{"helppopup": true, "cmdid": int64(4)}))
	ss := syncs(x.p.Events())
	if len(ss) != 1 || !slices.Equal(ss[0].sync().Fields, []string{contract.FieldServerData}) {
		t.Errorf("syncs = %s, want one partial server_data sync", describe(t, ss))
	}
	kw = get()
	if kw["helppopup"] != true || kw["gagprompt"] != true {
		t.Errorf("stored options = %v", kw)
	}
	if _, ok := kw["cmdid"]; ok {
		t.Error("cmdid was stored")
	}
}

func TestInputNoops(t *testing.T) {
	x := newHarness(t)
	s := x.connect("websocket", 1)
	s.ProtocolFlags.Set(contract.FlagInputDebug, true)
	x.in(s, msg("external_discord_hello", nil, nil), msg("client_gui", []any{"x"}, nil))
	if evs := x.p.Events(); len(evs) != 0 {
		t.Errorf("no-op inputfuncs sent %s", describe(t, evs))
	}
}

func TestPyRepr(t *testing.T) {
	for _, tc := range []struct {
		v     any
		tuple bool
		want  string
	}{
		{[]any{"a"}, true, "('a',)"},
		{[]any{"a", "b"}, true, "('a', 'b')"},
		{[]any{}, true, "()"},
		{[]any{"a"}, false, "['a']"},
		{map[string]any{}, false, "{}"},
		{map[string]any(nil), false, "{}"},
		{`back\slash`, false, `'back\\slash'`},
		{false, false, "False"},
	} {
		if got := PyRepr(tc.v, tc.tuple); got != tc.want {
			t.Errorf("PyRepr(%#v, %v) = %s, want %s", tc.v, tc.tuple, got, tc.want)
		}
	}
}

// TestInputClientOptionsIgnoresCmdid: Evennia's webclient adds a cmdid to
// the kwargs of every message; client_options takes the options and is
// silent about the cmdid (it used to answer "Wrong/unrecognized input:
// cmdid" every time).
func TestInputClientOptionsIgnoresCmdid(t *testing.T) {
	x := newHarness(t)
	s := x.connect("websocket", 1)
	x.in(s, msg("client_options", nil, map[string]any{"screenwidth": int64(120), "cmdid": int64(7)}))
	if got := textsFor(t, x.p.Events(), 1); len(got) != 0 {
		t.Fatalf("client_options answered %q", got)
	}
	if s.ScreenWidth() != 120 {
		t.Fatalf("screen width %d, want 120", s.ScreenWidth())
	}
	x.p.Reset()
	x.in(s, msg("client_options", nil, map[string]any{"cmdid": int64(8)}))
	if got := msgsFor(t, x.p.Events(), 1, "client_options"); len(got) != 1 {
		t.Fatalf("client_options with only a cmdid (a get): sent %d times", len(got))
	}
}

// TestWebclientOptionsKeptOnAccount: a logged-in session's
// webclient_options are stored on its account: the next login, from
// another session, gets them back (Evennia's _saved_webclient_options);
// an open session of the account that asked for them is told of the
// change; the client's cmdid is never stored.
func TestWebclientOptionsKeptOnAccount(t *testing.T) {
	x := newHarness(t)
	st := testSettings
	st.MultisessionMode = 1 // two sessions of Alice at once
	x.h.SetSettings(st)
	acc := x.account("Alice")
	watcher := x.login("websocket", 1, acc)
	x.in(watcher, msg("webclient_options", nil, map[string]any{"cmdid": int64(1)}))
	s := x.login("websocket", 2, acc)
	x.p.Reset()
	x.in(s, msg("webclient_options", nil, map[string]any{"gagprompt": false, "HotButtons": []any{"look"}, "cmdid": int64(9)}))
	told := msgsFor(t, x.p.Events(), 1, "webclient_options")
	if len(told) != 1 || told[0].Kwargs["gagprompt"] != false {
		t.Fatalf("the other session was told %+v", told)
	}
	x.h.Disconnect(s, "", false)
	x.h.Disconnect(watcher, "", false)

	again := x.login("websocket", 3, acc)
	x.p.Reset()
	x.in(again, msg("webclient_options", nil, map[string]any{"cmdid": int64(1)}))
	got := msgsFor(t, x.p.Events(), 3, "webclient_options")
	if len(got) != 1 {
		t.Fatalf("webclient_options sent %d times", len(got))
	}
	kw := got[0].Kwargs
	if kw["gagprompt"] != false || kw["helppopup"] != false || fmt.Sprint(kw["HotButtons"]) != "[look]" {
		t.Fatalf("options at the next login = %v", kw)
	}
	if _, ok := kw["cmdid"]; ok {
		t.Fatal("cmdid was stored")
	}
	// Another account has its own.
	bob := x.login("websocket", 4, x.account("Bob"))
	x.p.Reset()
	x.in(bob, msg("webclient_options", nil, nil))
	if got := msgsFor(t, x.p.Events(), 4, "webclient_options"); len(got) != 1 || got[0].Kwargs["gagprompt"] != true {
		t.Fatalf("Bob's options = %+v", got)
	}
}
