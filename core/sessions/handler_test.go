package sessions

import (
	"context"
	"testing"
)

func TestAccessors(t *testing.T) {
	x := newHarness(t)
	if x.h.Store() != x.st || x.h.Log() == nil {
		t.Error("Store or Log")
	}
	if x.h.Settings() != testSettings {
		t.Errorf("Settings = %+v", x.h.Settings())
	}
	other := &fakeCommands{}
	x.h.SetCommands(other)
	s := x.connect("telnet", 1)
	if len(other.LinesOf(1)) != 1 || len(x.cmds.Lines()) != 0 {
		t.Error("SetCommands did not replace the command handler")
	}
	if s.IsAdmin() {
		t.Error("an unlogged-in session is admin")
	}
	root, err := x.st.CreateAccount(context.Background(), "Root", "secret", true)
	if err != nil {
		t.Fatal(err)
	}
	x.h.Login(s, root, false)
	x.settle()
	if !s.IsAdmin() {
		t.Error("an admin account's session is not admin")
	}
}
