// Package leakcheck runs a package's tests and then fails them if any
// goroutine they started is still running, with go.uber.org/goleak.
//
// It is for tests only: every package that starts goroutines calls Main
// from its TestMain. It lives in sdk/ so that core/, sdk/ and plugins/ —
// and plugin authors outside this module — can all use it.
package leakcheck

import (
	"time"

	"go.uber.org/goleak"
)

// settle is how long Main lets goroutines wind down after the last test
// before it reports them. Many of them end just after the Close or cancel
// that tells them to (a connection's reader sees EOF, a server's handler
// returns), and a loaded CI machine running the race detector can take a
// second or more to schedule them; goleak's own retries stop after about
// half a second. A real leak never ends, so waiting longer only costs time
// when the check is going to fail anyway. A variable so that this package's
// own test can shorten it.
var settle = 10 * time.Second

// Main runs the tests of m and exits: with their status when they fail,
// and with 1 when they pass but left goroutines running (goleak prints
// their stacks). opts are goleak options; a caller ignoring a third-party
// goroutine says why next to the option.
func Main(m goleak.TestingM, opts ...goleak.Option) {
	goleak.VerifyTestMain(settling{m: m, opts: opts}, opts...)
}

// settling runs the tests and then waits up to settle for goroutines to
// end, so that VerifyTestMain's own check sees only the ones that will not.
type settling struct {
	m    goleak.TestingM
	opts []goleak.Option
}

func (s settling) Run() int {
	code := s.m.Run()
	if code != 0 {
		return code // VerifyTestMain does not check failing runs
	}
	deadline := time.Now().Add(settle)
	for goleak.Find(s.opts...) != nil && time.Now().Before(deadline) {
		// Find itself retries for about half a second, so this loop is
		// not a busy wait.
	}
	return code
}
