package main

import (
	"sync"
	"time"
)

// MsgTooFast is what a client that sends faster than command_rate is told
// (Evennia's words for MAX_COMMAND_RATE).
const MsgTooFast = "You entered commands too fast. Wait a moment and try again."

// rateLimiter is a token bucket: rate messages a second, with a burst of
// one second's worth. It belongs to a session, not to a connection, so that
// reconnecting does not refill it. It is safe for concurrent use: during a
// takeover the old connection's reader may still be running.
type rateLimiter struct {
	rate float64 // 0: no limit

	mu     sync.Mutex
	tokens float64
	last   time.Time
	// warned is when the client was last told it is too fast; it is told
	// at most once a second, so that a flood does not become one back.
	warned time.Time
}

func newRateLimiter(rate float64) *rateLimiter {
	return &rateLimiter{rate: rate, tokens: rate}
}

// allow takes a token for one message at now. When there is none it
// reports false, and warn says whether to tell the client.
func (l *rateLimiter) allow(now time.Time) (ok, warn bool) {
	if l.rate <= 0 {
		return true, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens += now.Sub(l.last).Seconds() * l.rate
		if l.tokens > l.rate {
			l.tokens = l.rate
		}
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true, false
	}
	if now.Sub(l.warned) >= time.Second {
		l.warned = now
		return false, true
	}
	return false, false
}
