package sessions

import (
	"errors"
	"slices"
	"testing"
)

func TestPortalRestartResetShutdown(t *testing.T) {
	x := newHarness(t)
	if err := x.h.PortalRestartServer("new code"); err != nil {
		t.Fatal(err)
	}
	if err := x.h.PortalResetServer("cold"); err != nil {
		t.Fatal(err)
	}
	if err := x.h.PortalShutdown("bye"); err != nil {
		t.Fatal(err)
	}
	want := []string{"reload:new code", "reset:cold", "shutdown:bye"}
	if got := x.life.Calls(); !slices.Equal(got, want) {
		t.Errorf("lifecycle calls = %q, want %q", got, want)
	}

	x.life.err = errFake
	for name, f := range map[string]func(string) error{
		"PortalRestartServer": x.h.PortalRestartServer, "PortalResetServer": x.h.PortalResetServer,
		"PortalShutdown": x.h.PortalShutdown,
	} {
		if err := f("r"); !errors.Is(err, errFake) {
			t.Errorf("%s error = %v, want the host's", name, err)
		}
	}

	x.h.SetLifecycle(nil)
	for name, f := range map[string]func(string) error{
		"PortalRestartServer": x.h.PortalRestartServer, "PortalResetServer": x.h.PortalResetServer,
		"PortalShutdown": x.h.PortalShutdown,
	} {
		if err := f("r"); err == nil {
			t.Errorf("%s without a lifecycle did not fail", name)
		}
	}
}
