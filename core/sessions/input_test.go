package sessions

import (
	"fmt"
	"slices"
	"testing"

	"github.com/portico-mud/portico/sdk/contract"
)

func TestDataInIgnoresOtherPlugins(t *testing.T) {
	x := newHarness(t)
	x.connect("telnet", 1)
	x.h.DataIn("ssh", 1, []contract.Message{contract.Text("from ssh")})
	x.h.DataIn("telnet", 2, []contract.Message{contract.Text("no session")})
	x.h.DataIn("telnet", 1, []contract.Message{contract.Text("from telnet")})
	if got := x.cmds.LinesOf(1); !slices.Equal(got, []string{"look", "from telnet"}) {
		t.Errorf("commands = %q, want only telnet's input", got)
	}
}

func TestGetInputfuncsAndRegister(t *testing.T) {
	x := newHarness(t)
	fs := x.h.GetInputfuncs()
	for _, name := range []string{"text", "bot_data_in", "echo", "default", "client_options", "hello",
		"supports_set", "get_client_options", "get_inputfuncs", "login", "get_value", "repeat", "unrepeat",
		"webclient_options", "external_discord_hello", "client_gui"} {
		if f, ok := fs[name]; !ok || f.Func == nil || f.Doc == "" {
			t.Errorf("inputfunc %q missing or undocumented", name)
		}
	}
	var got []string
	x.h.RegisterInputfunc("  Echo ", Inputfunc{Doc: "mine", Func: func(_ *ServerSessionHandler, _ *ServerSession, args []any, _ map[string]any) {
		got = append(got, fmt.Sprint(args...))
	}})
	if x.h.GetInputfuncs()["echo"].Doc != "mine" {
		t.Error("RegisterInputfunc did not replace echo under its normalised name")
	}
	s := x.connect("telnet", 1)
	x.h.CallInputfuncs(s, []contract.Message{{Name: "ECHO", Args: []any{"x"}}})
	if !slices.Equal(got, []string{"x"}) {
		t.Errorf("replaced echo got %q", got)
	}
}

func TestCallInputfuncs(t *testing.T) {
	x := newHarness(t)
	s := x.connect("telnet", 1)
	type call struct {
		Args   []any
		Kwargs map[string]any
	}
	var calls []call
	x.h.RegisterInputfunc("probe", Inputfunc{Doc: "test", Func: func(_ *ServerSessionHandler, _ *ServerSession, args []any, kw map[string]any) {
		calls = append(calls, call{args, kw})
	}})
	x.h.RegisterInputfunc("boom", Inputfunc{Doc: "test", Func: func(*ServerSessionHandler, *ServerSession, []any, map[string]any) {
		panic("kaboom")
	}})

	opts := map[string]any{"options": map[string]any{"x": 1}, "keep": "me"}
	x.h.CallInputfuncs(s, []contract.Message{
		{Name: " Probe\t", Args: []any{"a"}, Kwargs: opts},
		{Name: "boom"},
		{Name: "nosuch", Args: []any{"z"}},
		{Name: "probe"},
	})
	if len(calls) != 2 {
		t.Fatalf("probe calls = %d, want 2 (a panic must not stop the batch)", len(calls))
	}
	if calls[0].Args[0] != "a" || calls[0].Kwargs["keep"] != "me" {
		t.Errorf("probe got %+v", calls[0])
	}
	if _, ok := calls[0].Kwargs["options"]; ok {
		t.Error("options were not popped")
	}
	if _, ok := opts["options"]; !ok {
		t.Error("popping options changed the caller's map")
	}
	if evs := x.p.Events(); len(evs) != 0 {
		t.Errorf("without INPUTDEBUG the client is told nothing: %s", describe(t, evs))
	}

	// With INPUTDEBUG the client hears about unknown inputs and failures.
	s.ProtocolFlags.Set(contract.FlagInputDebug, true)
	x.h.CallInputfuncs(s, []contract.Message{{Name: "NoSuch"}, {Name: "boom"}})
	got := textsFor(t, x.p.Events(), 1)
	want := []string{"Session 1: Input command not recognized:\n nosuch", "Inputfunc boom failed: kaboom"}
	if !slices.Equal(got, want) {
		t.Errorf("texts = %q, want %q", got, want)
	}
}
