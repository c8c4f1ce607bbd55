package sdk

import (
	"runtime/debug"
	"sync"
	"time"
)

// After a burst of connections opening or closing, a plugin's heap holds
// the garbage their set-up left (negotiation, the first frames to the
// host, the stacks of readers that have since gone idle) and the spans
// freed by those that closed. Go's runtime gives such memory back to the
// OS only slowly, and collects it only when the heap grows again, which an
// idle server's does not: the plugin would keep the peak of the burst in
// RSS for minutes. burstRelease returns it at once when the burst is over.

// Tuning of burstRelease.
const (
	// burstEvents is how many sessions must open or close between two
	// releases for them to count as a burst: fewer leave little garbage,
	// which the runtime's background scavenger returns by itself.
	burstEvents = 64
	// burstQuiet is how long no session may open or close before the
	// memory is returned: longer than a telnet connection takes to go
	// idle after its last input (connio's reader leaves its goroutine
	// and stack after 1–2 s), and short enough that the memory is back
	// with the OS within 5 s of the burst's end.
	burstQuiet = 3 * time.Second
)

// burstRelease returns the process's free memory to the OS
// (debug.FreeOSMemory) once a burst of sessions opening or closing is
// over: burstEvents of them, then burstQuiet with none. It never runs
// while sessions keep coming: a busy server gains nothing from handing
// back memory it will need again in a moment.
type burstRelease struct {
	// now, afterFunc and free are time.Now, time.AfterFunc (returning its
	// Stop) and debug.FreeOSMemory outside tests.
	now       func() time.Time
	afterFunc func(time.Duration, func()) func() bool
	free      func()

	mu     sync.Mutex
	events int       // since the last release
	last   time.Time // of the latest event
	// stop stops the pending check; nil while none is pending.
	stop   func() bool
	closed bool
}

func newBurstRelease() *burstRelease {
	return &burstRelease{now: time.Now, free: debug.FreeOSMemory,
		afterFunc: func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }}
}

// note records a session opening or closing. It is cheap: a lock and the
// clock. A nil burstRelease (tests' portals) does nothing.
func (r *burstRelease) note() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events++
	r.last = r.now()
	if r.stop == nil && !r.closed && r.events >= burstEvents {
		r.stop = r.afterFunc(burstQuiet, r.check)
	}
}

// check returns the memory if the burst is over, or looks again when it
// could be.
func (r *burstRelease) check() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if quiet := r.now().Sub(r.last); quiet < burstQuiet {
		r.stop = r.afterFunc(burstQuiet-quiet, r.check)
		r.mu.Unlock()
		return
	}
	r.events = 0
	r.stop = nil
	r.mu.Unlock()
	r.free()
}

// close stops the pending check, if any; note does nothing afterwards.
func (r *burstRelease) close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
}
