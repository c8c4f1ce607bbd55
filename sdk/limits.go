package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrRefused is wrapped by NewSession's error when a connection limit
// refused the client; the client has been told and its Conn closed.
var ErrRefused = errors.New("connection refused by a limit")

// errClosedWhileQueued is NewSession's error for a session closed (by the
// host or the plugin) while it waited its turn.
var errClosedWhileQueued = errors.New("session closed while queued to connect")

// refusal is a connection limit's refusal: ErrRefused with what the client
// was told.
type refusal struct{ message string }

func (r *refusal) Error() string        { return "connection refused by a limit: " + r.message }
func (r *refusal) Is(target error) bool { return target == ErrRefused }

// RefusalMessage returns what a client refused by a connection limit was
// told (NewSession's error), so that a plugin whose Conn could not show it
// yet (no socket at that point) can show it itself.
func RefusalMessage(err error) (string, bool) {
	var r *refusal
	if errors.As(err, &r) {
		return r.message, true
	}
	return "", false
}

// Messages clients see from the connection limits.
const (
	MsgTooManyConnections = "Too many connections from your address. Close one and try again."
	msgServerBusy         = "The server is too busy to take new connections. Please try again in a minute."
)

// maxQueued bounds the connections waiting in all the address queues
// together; past it a connection that would have to wait is refused as
// too busy.
//
// What bounds the work a flood can make: each address (network, see
// ClientNetwork) holds at most connections_per_ip open connections, waits at
// most connection_queue_wait, and gets at most connection_rate
// connections a second through its queue, so it can keep at most
// min(connections_per_ip, connection_rate × connection_queue_wait)
// connections waiting. What is left is the number of addresses an
// attacker has: maxQueued caps what they can keep waiting (a goroutine or
// two, a socket and a session each, some tens of KB), and what they hold
// open past the queue is capped by the plugin's own bound where it has
// one (SSH's max_connections) and the process's file descriptors. A
// connection from an address that has no queue never waits, so no bound
// here can keep a fresh address out: it goes in at once however many
// others are queued.
const maxQueued = 4096

// minSweep is the number of address queues below which idle ones are not
// swept (see queueLocked).
const minSweep = 64

// connQueue is one network's connection queue: a token bucket of
// ConnectionRate a second (as many in a burst), whose waiters are let in
// in order as it refills. All fields are guarded by the portal's mu.
type connQueue struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
	// waiters wait in order; one leaves when let in or when its client
	// goes away.
	waiters []*queued
	// timer lets the head in when its token is due; set while waiters is
	// not empty.
	timer *time.Timer
}

// queued is one connection waiting its turn.
type queued struct {
	turn chan struct{} // closed when it is let in
	in   bool
}

// refill brings q's bucket, which holds at most burst(rate) tokens, up to
// now.
func (q *connQueue) refill(now time.Time, rate float64) {
	q.tokens = min(burst(rate), q.tokens+now.Sub(q.at).Seconds()*rate)
	q.at = now
}

// burst is how many tokens a bucket filling at rate a second holds: a
// second's worth, and at least one, so that a rate under one a second (a
// test's, see NewTestPortalWithRate) still lets a client in at once.
func burst(rate float64) float64 { return max(1, rate) }

// limitedNetwork is the network NewSession counts address under, for the
// per-address limits: ClientNetwork's, or "" (not counted, never queued)
// for an address in the host's limits.exempt.
func (p *Portal) limitedNetwork(address string) string {
	n := ClientNetwork(address)
	if p.perIP.exemptContains(n) {
		return ""
	}
	return n
}

// rateLocked returns the connection rate in force: the host's, or a
// test's (NewTestPortalWithRate). p.mu must be held.
func (p *Portal) rateLocked() float64 {
	if p.testRate > 0 {
		return p.testRate
	}
	return float64(p.host.ConnectionRate)
}

// queueLocked returns network n's queue brought up to now, made when it
// has none. Queues that are idle (no waiters, bucket full) are swept out
// whenever the map doubles, so that it holds only networks seen in the
// last second or so and costs O(1) per connection.
func (p *Portal) queueLocked(n string, now time.Time, rate float64) *connQueue {
	if q, ok := p.queues[n]; ok {
		q.refill(now, rate)
		return q
	}
	if len(p.queues) >= p.sweepAt {
		for k, q := range p.queues {
			if len(q.waiters) == 0 && q.tokens+now.Sub(q.at).Seconds()*rate >= burst(rate) {
				delete(p.queues, k)
			}
		}
		p.sweepAt = max(minSweep, 2*len(p.queues))
	}
	q := &connQueue{tokens: burst(rate), at: now}
	p.queues[n] = q
	return q
}

// letInLocked lets in q's waiters whose tokens have come, in order, and
// sets the timer for the next one. The rate is read afresh: a host that
// reattached may have changed it (0 lets everyone in).
func (p *Portal) letInLocked(q *connQueue) {
	rate := p.rateLocked()
	if rate > 0 {
		q.refill(time.Now(), rate)
	}
	// A hair under 1: the timer is set for the moment the token is due,
	// and float rounding must not have it fire a nanosecond early forever.
	for len(q.waiters) > 0 && (rate <= 0 || q.tokens >= 1-1e-9) {
		w := q.waiters[0]
		q.waiters = q.waiters[1:]
		p.queued--
		q.tokens--
		w.in = true
		close(w.turn)
	}
	if len(q.waiters) == 0 {
		if q.timer != nil {
			q.timer.Stop()
			q.timer = nil
		}
		return
	}
	due := time.Duration((1 - q.tokens) / rate * float64(time.Second))
	if q.timer != nil {
		q.timer.Reset(due)
		return
	}
	q.timer = time.AfterFunc(due, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.letInLocked(q)
	})
}

// leaveLocked takes w out of q: its client went away while it waited. If
// it had just been let in, its token goes back to the queue.
func (p *Portal) leaveLocked(q *connQueue, w *queued) {
	if w.in {
		if rate := p.rateLocked(); rate > 0 {
			q.refill(time.Now(), rate)
			q.tokens = min(burst(rate), q.tokens+1)
		}
		p.letInLocked(q)
		return
	}
	for i, x := range q.waiters {
		if x == w {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			p.queued--
			break
		}
	}
	// Those behind move up by themselves: the timer lets in whoever is
	// first when the next token is due.
	if len(q.waiters) == 0 && q.timer != nil {
		q.timer.Stop()
		q.timer = nil
	}
}

// waitTurn applies the connection rate to s, per network: a client whose
// network has a token left goes in at once; one that must wait is told
// how long, as Evennia does ("DoS protection is active"), and waits in
// its network's queue only, behind nobody from elsewhere. A wait longer
// than ConnectionQueueWait is refused. The wait ends early, and the
// client's place is given up, when ctx ends (the plugin saw the client
// hang up) or the session is closed.
func (p *Portal) waitTurn(ctx context.Context, s *Session) error {
	p.mu.Lock()
	rate := p.rateLocked()
	if rate <= 0 {
		p.mu.Unlock()
		return nil
	}
	q := p.queueLocked(s.ip, time.Now(), rate)
	if len(q.waiters) == 0 && q.tokens >= 1 {
		q.tokens--
		p.mu.Unlock()
		return nil
	}
	// Its token comes once the bucket has refilled for everyone ahead of
	// it and for itself.
	wait := time.Duration((float64(len(q.waiters)+1) - q.tokens) / rate * float64(time.Second))
	if wait > p.host.ConnectionQueueWait || p.queued >= p.maxQueued {
		p.mu.Unlock()
		return &refusal{message: msgServerBusy}
	}
	w := &queued{turn: make(chan struct{})}
	q.waiters = append(q.waiters, w)
	p.queued++
	if len(q.waiters) == 1 {
		p.letInLocked(q) // sets the timer for the head
	}
	name := p.host.ServerName
	p.mu.Unlock()
	closed := s.closedSignal()
	if name == "" {
		name = "The server's"
	}
	s.conn.Send(s, []Message{Text(fmt.Sprintf("%s DoS protection is active. You are queued to connect in %.1f seconds ...",
		name, wait.Seconds()))})
	var err error
	select {
	case <-w.turn:
		return nil
	case <-ctx.Done():
		err = fmt.Errorf("left the connection queue: %w", context.Cause(ctx))
	case <-closed:
		err = errClosedWhileQueued
	}
	p.mu.Lock()
	p.leaveLocked(q, w)
	p.mu.Unlock()
	return err
}
