package sessions

// The handler's ownership and its loop: game state (sessions, accounts,
// channels) is touched only by the goroutine that holds the game's
// ownership (own), so that game code needs no locks. The loop, Run, holds
// it for each piece of posted work, timer tick and continuation; a
// plugin's link reader holds it (Exec) while it runs that plugin's input
// itself, so that a command costs no hand-off to another goroutine. Work
// that must not hold it (a password hash, a login-row write) runs off it in
// a small pool and posts its continuation back; a session's further input
// waits meanwhile.

import (
	"context"
	"sync"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
)

// The hashing pool. Every password hash or check (logins, SSH passwords,
// account creation) runs through it: argon2id takes a core and ~19 MiB
// for tens of milliseconds, so at most hashWorkers run at once, whatever
// the number of clients asking, and at most hashQueueMax more wait. A
// session has at most one job at a time, so the queue holds one per
// waiting session; its bound is about the wait: 1,024 jobs at the
// default cost are 15–25 s here, long enough for a burst of a thousand
// players logging in at once (they are told to wait), short enough that
// nobody waits for minutes. The queue is fair between addresses (see
// hashQueue): one client network (contract.ClientNetwork) may have at most
// hashQueuePerAddress jobs waiting, so that a few addresses, each with
// its connections_per_ip connections, cannot fill it and keep everyone
// else's logins out; the networks waiting are served in turn. (With
// connections_per_ip 0 the operator counts nothing per address, and
// neither does this cap.) Two is
// enough for people sharing one address (a household, a NAT) who log in
// at the same moment: only jobs that must wait count, and a refused one
// is told to try again.
const (
	hashWorkers         = 2
	hashQueueMax        = 1024
	hashQueuePerAddress = 2
)

// Messages of the hashing pool.
const (
	// MsgHashQueued tells a session that its password waits for a worker.
	MsgHashQueued = "Please wait a moment: other logins are being checked first."
	// MsgServerBusy tells a session that the queue is full, or holds its
	// address's share.
	MsgServerBusy = "The server is busy; please try again in a moment."
	// MsgServerRestarting tells a session that its password was not
	// checked because the server is reloading or stopping.
	MsgServerRestarting = "The server is restarting; please try again in a moment."
)

// asyncJob is one operation waiting in the hashing pool's queue.
type asyncJob struct {
	s    *ServerSession
	work func() (then func())
	// network is s's client network (contract.ClientNetwork), "" when its
	// address is no IP.
	network string
}

// Run executes posted work in order until ctx ends, then waits for async
// work to finish and saves the throttle counters. It holds the game's
// ownership for each piece of work, one at a time, so that the link
// readers' Exec runs in between.
func (h *ServerSessionHandler) Run(ctx context.Context) {
	idleTick := time.NewTicker(validateEvery)
	defer idleTick.Stop()
	saveTick := time.NewTicker(throttleSaveEvery)
	defer saveTick.Stop()
	for {
		select {
		case <-ctx.Done():
			// From here on Exec refuses: nothing runs game code after
			// the loop's last work. stop itself holds ownership: it runs
			// the async continuations still to come.
			h.own.Lock()
			h.ended = true
			h.stop()
			h.own.Unlock()
			h.memRelease.Close()
			return
		case f := <-h.jobs:
			h.own.Lock()
			f()
			h.own.Unlock()
		case <-idleTick.C:
			h.own.Lock()
			h.ValidateSessions()
			h.throttles.sweep(h.now(), h.throttleWindow)
			h.own.Unlock()
		case <-saveTick.C:
			h.own.Lock()
			h.flushThrottles()
			h.own.Unlock()
		case err := <-h.throttleSaved:
			h.own.Lock()
			h.throttleSaveDone(err)
			h.own.Unlock()
		}
	}
}

// stop ends the loop's work: delayed logins are dropped (their sessions
// come back through the next image, which they wait for), async work
// finishes, and the throttle counters are saved so that a reload or a
// restart does not clear them.
func (h *ServerSessionHandler) stop() {
	close(h.stopping)
	for _, s := range h.sessions {
		if s.delayStop != nil {
			s.delayStop()
			s.delayStop = nil
		}
	}
	h.stopAsync()
	h.drainAsync()
	if h.throttleSaving != nil {
		h.throttleSaveDone(<-h.throttleSaved)
	}
	if entries := h.throttleSnapshot(); len(entries) > 0 && h.store != nil {
		if err := h.saveThrottles(entries); err != nil {
			h.log.Error("throttles: save at stop", "err", err)
		}
	}
}

// drainAsync keeps running posted work until no async operation is in
// flight and nothing is queued, so that none is left blocked and no
// continuation (which may start more work, a login write) is lost.
func (h *ServerSessionHandler) drainAsync() {
	for {
		select {
		case f := <-h.jobs:
			f()
			continue
		case <-h.inflight.idleChan():
		}
		select {
		case f := <-h.jobs:
			f()
		default:
			return
		}
	}
}

// Do posts f to the loop. It blocks while the loop's queue is full, which
// slows a flooding poster down instead of growing memory. Work posted with
// Do runs after whatever is posted before it, but Exec may run before it:
// a caller that must have f run before its own Exec (a plugin link's
// PluginLaunched before the plugin's first input) uses Call.
func (h *ServerSessionHandler) Do(f func()) { h.jobs <- f }

// Exec runs f on the calling goroutine while it holds the game's
// ownership, as if it ran on the loop, and reports whether it ran: once
// Run has ended (the host stops or re-executes) f does not run, since
// nothing would carry out what it starts (async continuations, timers).
// It is how a plugin's link reader runs that plugin's input with no
// hand-off to the loop; each call is one batch (a frame's events), so
// that the loop and the other readers get their turn between batches
// (sync.Mutex hands ownership to a goroutine that has waited over a
// millisecond, so no reader starves the others). f must not block, nor
// wait for the loop (Call), nor call Exec: it holds the game, and every
// other goroutine that wants it waits. Exec is never called from game
// code, which already holds the ownership.
func (h *ServerSessionHandler) Exec(f func()) bool {
	h.own.Lock()
	defer h.own.Unlock()
	if h.ended {
		return false
	}
	f()
	return true
}

// Call runs f on the loop and waits for it, or for ctx.
func (h *ServerSessionHandler) Call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case h.jobs <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Async runs work off the loop for session s (a password hash or check)
// in the hashing pool, holding s's further input until then runs on the
// loop; then may be nil. Work that must wait for a worker is queued and
// s is told (MsgHashQueued); when the queue is full, or s's client
// network already has hashQueuePerAddress jobs waiting, s is told
// MsgServerBusy (the share applies while limits.connections_per_ip is
// set), work never runs and Async reports false; so it does,
// with MsgServerRestarting, once the pool is stopped for a reload or a
// stop. A queued job dropped by the reload never runs either (see
// StopAsync). It runs on the loop.
func (h *ServerSessionHandler) Async(s *ServerSession, work func() (then func())) bool {
	j := asyncJob{s: s, work: work, network: contract.ClientNetwork(s.Address)}
	switch {
	case h.asyncStopped:
		h.log.Info("hashing pool stopped for a restart; request refused", "sessid", s.Sessid, "address", s.Address)
		s.Msg(MsgServerRestarting)
		return false
	case h.asyncRunning < hashWorkers:
		s.busy++
		h.inflight.add()
		h.startAsync(j)
	case h.asyncQueue.len() >= hashQueueMax:
		h.log.Warn("hashing queue full; request refused", "sessid", s.Sessid, "address", s.Address,
			"queued", h.asyncQueue.len())
		s.Msg(MsgServerBusy)
		return false
	case j.network != "" && h.settings.Limits.ConnectionsPerIP > 0 &&
		h.asyncQueue.waitingFrom(j.network) >= hashQueuePerAddress:
		// An address that is no IP (j.network "") is not one client's,
		// nor is any address where the operator counts no connections
		// per address (connections_per_ip 0: say, every player comes
		// through one proxy): only the queue's own bound applies then.
		h.log.Warn("hashing queue: the address has its share waiting; request refused", "sessid", s.Sessid,
			"address", s.Address, "network", j.network, "queued", h.asyncQueue.len())
		s.Msg(MsgServerBusy)
		return false
	default:
		s.busy++
		h.inflight.add()
		h.asyncQueue.push(j)
		s.Msg(MsgHashQueued)
	}
	return true
}

// startAsync runs j on a worker goroutine of its own; the goroutine ends
// when the work does, and its continuation starts the next queued job.
func (h *ServerSessionHandler) startAsync(j asyncJob) {
	h.asyncRunning++
	go func() {
		defer h.inflight.done()
		then := j.work()
		h.jobs <- func() {
			h.asyncRunning--
			h.startQueued()
			if then != nil {
				then()
			}
			h.release(j.s)
		}
	}()
}

// startQueued gives free workers to queued jobs, the client networks
// waiting in turn and each one's oldest job first; the jobs of sessions
// gone meanwhile are dropped unrun.
func (h *ServerSessionHandler) startQueued() {
	for h.asyncRunning < hashWorkers {
		j, ok := h.asyncQueue.pop()
		if !ok {
			return
		}
		if h.sessions[j.s.Sessid] != j.s {
			h.inflight.done()
			continue
		}
		h.startAsync(j)
	}
}

// stopAsync stops the hashing pool for a reload or a stop: from now on
// Async refuses, and the jobs still queued are dropped unrun. Each of
// their sessions is told MsgServerRestarting and let go: its held input
// runs (a password it sends again is refused the same way), and one that
// never had its connection screen (an SSH login with a password) gets it
// now, as when Async refuses it. A session is not kept waiting across the
// reload: the next image does not know what was queued. It runs on the
// loop; a second call does nothing.
func (h *ServerSessionHandler) stopAsync() {
	if h.asyncStopped {
		return
	}
	h.asyncStopped = true
	dropped := h.asyncQueue.takeAll()
	told := 0
	for _, j := range dropped {
		h.inflight.done()
		s := j.s
		if h.sessions[s.Sessid] != s {
			continue
		}
		told++
		s.Msg(MsgServerRestarting)
		if !s.LoggedIn && !s.greeted {
			h.runLookAtLoginStart(s)
		}
		h.release(s)
	}
	if len(dropped) > 0 {
		h.log.Info("hashing queue dropped for the restart", "dropped", len(dropped), "told", told,
			"running", h.asyncRunning)
	}
}

// delayThen holds s's input for d, then runs f on the loop. Nothing waits
// meanwhile but a timer: no worker, no loop time, so a delay given to one
// session costs the others nothing; nor is it counted in inflight, so a
// reload does not wait for it. A session gone by then is skipped. The
// delay is one of the operations s waits on until f has run: what f
// starts (a password check) holds s's input on its own, and release lets
// the input through only once nothing is left.
func (h *ServerSessionHandler) delayThen(s *ServerSession, d time.Duration, f func()) {
	s.busy++
	s.delayStop = h.afterFunc(d, func() {
		h.post(func() {
			if h.sessions[s.Sessid] != s || s.delayStop == nil {
				return
			}
			s.delayStop = nil
			f()
			h.release(s)
		})
	})
}

// post hands f to the loop from a timer; once the loop is stopping f is
// dropped instead of waiting for a loop that will not run it.
func (h *ServerSessionHandler) post(f func()) {
	select {
	case h.jobs <- f:
	case <-h.stopping:
	}
}

// release ends one operation s waited on, and lets its held input through
// once it waits on none.
func (h *ServerSessionHandler) release(s *ServerSession) {
	s.busy--
	if h.sessions[s.Sessid] != s {
		s.dropInput()
		return
	}
	if s.busy == 0 && len(s.waiting) > 0 {
		// The input that started what s waited on is finished.
		waiting := s.waiting
		s.waiting = nil
		for _, f := range waiting {
			f()
		}
	}
	for len(s.held) > 0 && s.busy == 0 {
		if h.sessions[s.Sessid] != s {
			s.dropInput()
			return
		}
		in := s.held[0]
		s.held = s.held[1:]
		h.callInputfuncs(s, in.msgs, in.finished)
	}
}

// StopAsync is what a reload does before it hands the plugins over: it
// stops the hashing pool (stopAsync: queued jobs are dropped and their
// sessions told to try again, nothing more is taken), then waits as
// WaitAsync does, which is now for the jobs already running (at most
// hashWorkers, one hash each) and the login writes they start. A full
// queue would otherwise hold the reload, every plugin paused, for the
// 15–25 s it takes to hash. The loop must be running.
func (h *ServerSessionHandler) StopAsync() {
	if err := h.Call(context.Background(), h.stopAsync); err != nil {
		return
	}
	h.WaitAsync()
}

// WaitAsync waits until no async operation is in flight (the hashing
// pool's jobs, running or queued, and login writes) and every continuation
// has run on the loop, including the async work continuations start (a
// login's row write follows its password check). Delayed logins are not
// waited for. The loop must be running.
func (h *ServerSessionHandler) WaitAsync() {
	for {
		<-h.inflight.idleChan()
		busy := false
		// Runs after every continuation posted so far.
		if err := h.Call(context.Background(), func() { busy = h.inflight.count() > 0 }); err != nil || !busy {
			return
		}
	}
}

// inflight counts the handler's async operations (password checks, login
// writes) until each has posted its continuation to the loop.
type inflight struct {
	mu sync.Mutex
	n  int
	// idle is closed while n is 0.
	idle chan struct{}
}

func newInflight() *inflight {
	c := &inflight{idle: make(chan struct{})}
	close(c.idle)
	return c
}

func (c *inflight) add() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		c.idle = make(chan struct{})
	}
	c.n++
}

func (c *inflight) done() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if c.n == 0 {
		close(c.idle)
	}
}

// idleChan returns a channel closed once nothing is in flight.
func (c *inflight) idleChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.idle
}

func (c *inflight) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
