package main

import (
	"sync"
	"time"
)

// tokenBucket paces a bot's outgoing lines so that servers never see a
// flood: up to burst lines at once, then one line per interval. Servers
// disconnect clients that send too fast ("Excess Flood"), and a bridge of
// a busy game channel would.
type tokenBucket struct {
	mu       sync.Mutex
	burst    float64
	interval time.Duration
	tokens   float64
	last     time.Time
}

func newTokenBucket(burst int, interval time.Duration) *tokenBucket {
	return &tokenBucket{burst: float64(burst), interval: interval, tokens: float64(burst)}
}

// refill adds the tokens earned since the last call. Called with mu held.
func (tb *tokenBucket) refill(now time.Time) {
	if !tb.last.IsZero() && now.After(tb.last) && tb.interval > 0 {
		tb.tokens += float64(now.Sub(tb.last)) / float64(tb.interval)
		if tb.tokens > tb.burst {
			tb.tokens = tb.burst
		}
	}
	tb.last = now
}

// take takes a token if there is one and returns 0; otherwise it takes
// nothing and returns how long until there will be one.
func (tb *tokenBucket) take(now time.Time) time.Duration {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.refill(now)
	if tb.interval <= 0 || tb.tokens >= 1 {
		tb.tokens--
		return 0
	}
	return time.Duration((1 - tb.tokens) * float64(tb.interval))
}

// spend uses a token for a line that cannot wait (PONG, registration,
// QUIT), if there is one: such lines are few, so they use up the burst
// but never delay chat beyond it.
func (tb *tokenBucket) spend(now time.Time) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.refill(now)
	if tb.tokens >= 1 {
		tb.tokens--
	}
}

// queuedLine is an IRC line waiting to be sent, with when it was queued.
type queuedLine struct {
	line string
	at   time.Time
}

// lineQueue is a bot's bounded queue of chat lines. It outlives each IRC
// connection, so that what players say while the bot reconnects is sent
// once it is back, unless it has grown stale meanwhile.
type lineQueue struct {
	mu     sync.Mutex
	lines  []queuedLine
	max    int
	maxAge time.Duration
	// ready has a value while the queue is not empty (capacity 1).
	ready chan struct{}
}

func newLineQueue(max int, maxAge time.Duration) *lineQueue {
	return &lineQueue{max: max, maxAge: maxAge, ready: make(chan struct{}, 1)}
}

// push queues lines in order. Lines that do not fit are dropped; push
// returns how many.
func (q *lineQueue) push(now time.Time, lines ...string) (dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, l := range lines {
		if len(q.lines) >= q.max {
			dropped++
			continue
		}
		q.lines = append(q.lines, queuedLine{line: l, at: now})
	}
	q.signalLocked()
	return dropped
}

// pop takes the oldest line that is not stale; stale counts the stale
// lines it threw away on the way.
func (q *lineQueue) pop(now time.Time) (line string, ok bool, stale int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.lines) > 0 {
		l := q.lines[0]
		q.lines[0] = queuedLine{}
		q.lines = q.lines[1:]
		if q.maxAge > 0 && now.Sub(l.at) > q.maxAge {
			stale++
			continue
		}
		q.signalLocked()
		return l.line, true, stale
	}
	q.signalLocked()
	return "", false, stale
}

// len returns the number of queued lines.
func (q *lineQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.lines)
}

// signal makes ready reflect the queue again, after a reader took the
// signal without taking a line.
func (q *lineQueue) signal() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.signalLocked()
}

// signalLocked keeps ready in step with whether lines wait.
func (q *lineQueue) signalLocked() {
	if len(q.lines) > 0 {
		select {
		case q.ready <- struct{}{}:
		default:
		}
		return
	}
	select {
	case <-q.ready:
	default:
	}
}
