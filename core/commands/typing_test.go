package commands_test

import (
	"fmt"
	"testing"

	"github.com/portico-mud/portico/sdk/contract"
)

// TestTypingIndicator: Evennia's webclient asks is_typing_setup once
// logged in and is answered with the commands whose typing is reported
// (say and its aliases) and the timeout; its is_typing_state reaches every
// other player who has not turned the indicator off, never the typist;
// before login it is not answered.
func TestTypingIndicator(t *testing.T) {
	e := newEnv(t, 0)
	for _, n := range []string{"Alice", "Bob", "Carol"} {
		e.account(n, "secret1")
	}
	e.connect(9)
	in := func(id uint64, name string, kwargs map[string]any) []contract.Message {
		before := len(e.p.Events())
		e.call(func() { e.h.DataIn("telnet", id, []contract.Message{{Name: name, Kwargs: kwargs}}) })
		return e.messagesIn(e.p.Events()[before:], id)
	}
	if got := in(9, "is_typing_setup", nil); len(got) != 0 {
		t.Fatalf("set-up before login answered %+v", got)
	}
	e.loginAs(1, "Alice", "secret1")
	e.loginAs(2, "Bob", "secret1")
	e.loginAs(3, "Carol", "secret1")
	e.settle()
	in(3, "client_options", map[string]any{"istyping": false, "cmdid": int64(1)})

	got := in(1, "is_typing_setup", nil)
	if len(got) != 1 || got[0].Name != "is_typing" || got[0].Kwargs["type"] != "setup" ||
		fmt.Sprint(got[0].Kwargs["payload"]) != `map[live_report_keywords:[say " '] typing_timeout:5000]` {
		t.Fatalf("set-up = %+v", got)
	}
	before := len(e.p.Events())
	if got := in(1, "is_typing_state", map[string]any{"state": true, "cmdid": int64(5)}); len(got) != 0 {
		t.Fatalf("the typist was told %+v", got)
	}
	evs := e.p.Events()[before:]
	bob := e.messagesIn(evs, 2)
	if len(bob) != 1 || bob[0].Name != "is_typing" || bob[0].Kwargs["type"] != "typing" ||
		fmt.Sprint(bob[0].Kwargs["payload"]) != "map[name:Alice state:true]" {
		t.Fatalf("Bob was told %+v", bob)
	}
	if carol := e.messagesIn(evs, 3); len(carol) != 0 {
		t.Fatalf("Carol, who turned the indicator off, was told %+v", carol)
	}
}
