package sessions

import (
	"fmt"
	"time"

	"github.com/portico-mud/portico/core/attrs"
)

// What the handler offers game code beyond the sessions: the attribute
// store, a hook when a session ends, and timers that run on the loop. Game
// code — commands, inputfuncs, hooks, timers — always runs on the loop, so
// it owns the game state and needs no locks.

// Attrs returns the game's persistent attribute store (nil when the
// handler was made without one). See package core/attrs.
func (h *ServerSessionHandler) Attrs() *attrs.Store { return h.attrs }

// SetDisconnectHook sets a function run on the loop whenever a session
// ends, for whatever reason (quit, a dropped connection, idle, a duplicate
// login, its plugin gone), after it has left the handler: what it sends to
// s is dropped, what it sends to others arrives. A reload ends no session,
// so it does not run then.
func (h *ServerSessionHandler) SetDisconnectHook(f func(s *ServerSession, reason string)) {
	h.disconnectHook = f
}

func (h *ServerSessionHandler) runDisconnectHook(s *ServerSession, reason string) {
	if h.disconnectHook != nil {
		h.Guard("disconnect hook", func() { h.disconnectHook(s, reason) })
	}
}

// Guard runs f, game code, on the calling goroutine (the loop) and logs a
// panic instead of letting it take the host down: one broken hook must not
// drop every player.
func (h *ServerSessionHandler) Guard(what string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("game code panicked", "in", what, "panic", fmt.Sprint(r))
		}
	}()
	f()
}

// MinInterval is the shortest interval Every takes; a shorter one is
// raised to it.
const MinInterval = 10 * time.Millisecond

// Timer runs a function on the handler's loop, once (After) or every
// interval (Every), until it is stopped or the host image ends (a reload
// starts afresh: a game starts its timers again from its start hook).
type Timer struct {
	h       *ServerSessionHandler
	f       func()
	every   time.Duration
	stop    func() bool
	stopped bool
}

// After runs f on the loop once d has passed, unless the timer is stopped
// first. Call it from game code (on the loop).
func (h *ServerSessionHandler) After(d time.Duration, f func()) *Timer {
	t := &Timer{h: h, f: f}
	t.schedule(d)
	return t
}

// Every runs f on the loop every d (at least MinInterval) until the timer
// is stopped. A run that is late does not make the next one come sooner.
// Call it from game code (on the loop).
func (h *ServerSessionHandler) Every(d time.Duration, f func()) *Timer {
	t := &Timer{h: h, f: f, every: max(d, MinInterval)}
	t.schedule(t.every)
	return t
}

func (t *Timer) schedule(d time.Duration) {
	t.stop = t.h.afterFunc(d, func() { t.h.post(t.fire) })
}

// fire runs on the loop. A timer stopped after its time came, while its
// run waited for the loop, does not run: stopped is only read and written
// on the loop.
func (t *Timer) fire() {
	if t.stopped {
		return
	}
	if t.every > 0 {
		t.schedule(t.every)
	} else {
		t.stopped = true
	}
	t.h.Guard("timer", t.f)
}

// Stop stops the timer: its function does not run again. It reports
// whether the timer was still running. Call it from game code (on the
// loop).
func (t *Timer) Stop() bool {
	if t.stopped {
		return false
	}
	t.stopped = true
	t.stop()
	return true
}
