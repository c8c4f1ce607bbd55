package sdk

import (
	"testing"
	"time"
)

// TestFirstLinkGrace: a plugin whose host configured it and died before
// opening the link does not run forever: the grace period runs from before
// the first link, and the first link stops it.
func TestFirstLinkGrace(t *testing.T) {
	p := newTestPlugin()
	h := newHarness(t, p)
	lost := make(chan struct{}, 1)
	h.srv.OnHostLost = func() { lost <- struct{}{} }
	h.configure(t, `{}`, hostInfo(1, 100))
	// Configure armed the timer with the longer of the host's grace and
	// the default; shorten it to see it fire.
	h.srv.mu.Lock()
	if h.srv.graceTimer == nil {
		h.srv.mu.Unlock()
		t.Fatal("no grace period before the first link")
	}
	h.srv.awaitFirstLinkLocked(10 * time.Millisecond)
	h.srv.mu.Unlock()
	wait(t, lost, "OnHostLost without any link")
	wait(t, p.shutdowns, "Plugin.Shutdown")
}

// TestFirstLinkStopsGrace: the first link stops the pre-link grace period,
// and the plugin tells the host it took the link over by sending the
// stream's headers.
func TestFirstLinkStopsGrace(t *testing.T) {
	p := newTestPlugin()
	h := newHarness(t, p)
	lost := make(chan struct{}, 1)
	h.srv.OnHostLost = func() { lost <- struct{}{} }
	h.configure(t, `{}`, hostInfo(1, 100))
	h.srv.mu.Lock()
	h.srv.awaitFirstLinkLocked(time.Hour)
	h.srv.mu.Unlock()
	l := h.link(t)
	if _, err := l.stream.Header(); err != nil {
		t.Fatalf("no headers on the link: %v", err)
	}
	h.srv.mu.Lock()
	timer := h.srv.graceTimer
	h.srv.mu.Unlock()
	if timer != nil {
		t.Fatal("the first link left the grace timer running")
	}
	none(t, lost, "OnHostLost")
}
