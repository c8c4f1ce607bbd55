// Package freemem returns a process's free memory to the OS once a burst of
// sessions opening or closing is over. Both sides of the Link use it: a
// plugin for its connections' set-up garbage, the host for the records and
// decoding garbage of the sessions it was told of.
//
// After a burst, a heap holds the garbage the sessions' set-up left and
// the spans freed by those that closed. Go's runtime gives such memory back
// to the OS only slowly, and collects it only when the heap grows again,
// which an idle server's does not: the process would keep the peak of the
// burst in RSS for minutes. A Release returns it at once when the burst is
// over.
package freemem

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// Tuning of a Release.
const (
	// Events is how many sessions must open or close between two releases
	// for them to count as a burst: fewer leave little garbage, which the
	// runtime's background scavenger returns by itself.
	Events = 64
	// Quiet is how long no session may open or close before the memory is
	// returned: longer than a telnet connection takes to go idle after its
	// last input (connio's reader leaves its goroutine and stack after
	// 1–2 s), and short enough that the memory is back with the OS within
	// 5 s of the burst's end.
	Quiet = 3 * time.Second
)

// Clock is what a Release waits with; New uses the real one, tests a fake.
type Clock struct {
	// Now is time.Now.
	Now func() time.Time
	// AfterFunc is time.AfterFunc, returning the timer's Stop.
	AfterFunc func(time.Duration, func()) func() bool
	// Free is the package's Free.
	Free func()
}

// Release returns the process's free memory to the OS
// (Free) once a burst of sessions opening or closing is
// over: Events of them, then Quiet with none. It never runs while sessions
// keep coming: a busy server gains nothing from handing back memory it
// will need again in a moment. A nil *Release does nothing.
type Release struct {
	clock Clock

	mu     sync.Mutex
	events int       // since the last release
	last   time.Time // of the latest event
	// stop stops the pending check; nil while none is pending.
	stop   func() bool
	closed bool
}

// Free collects the heap twice and returns the free memory to the OS: a
// Release's work on the real clock.
//
// One collection is not enough after a burst: a sync.Pool keeps what it
// held at a collection (its victim cache) until the next one, and an idle
// process may not collect again for minutes. A telnet plugin's read
// buffers are such objects: every connection that parked after logging in
// put its 2 KiB buffer back, and a thousand of them stayed resident after
// debug.FreeOSMemory alone (issue 16: 2.3 MB of the plugin's heap).
func Free() {
	runtime.GC()
	debug.FreeOSMemory()
}

// New returns a Release on the real clock.
func New() *Release {
	return NewWithClock(Clock{Now: time.Now, Free: Free,
		AfterFunc: func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }})
}

// NewWithClock returns a Release on c (tests).
func NewWithClock(c Clock) *Release { return &Release{clock: c} }

// Note records a session opening or closing. It is cheap: a lock and the
// clock.
func (r *Release) Note() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events++
	r.last = r.clock.Now()
	if r.stop == nil && !r.closed && r.events >= Events {
		r.stop = r.clock.AfterFunc(Quiet, r.check)
	}
}

// check returns the memory if the burst is over, or looks again when it
// could be.
func (r *Release) check() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if quiet := r.clock.Now().Sub(r.last); quiet < Quiet {
		r.stop = r.clock.AfterFunc(Quiet-quiet, r.check)
		r.mu.Unlock()
		return
	}
	r.events = 0
	r.stop = nil
	r.mu.Unlock()
	r.clock.Free()
}

// Close stops the pending check, if any; Note does nothing afterwards.
func (r *Release) Close() {
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
