package sdk

import (
	"context"
	"time"
)

// Backoff is the wait between the tries of a plugin that connects out (a
// bridge bot to its chat server, a remote plugin to its host): it starts
// at Min, is multiplied by Factor after each try, and never exceeds Max.
// It starts again from Min only after a connection that stayed up for
// StableAfter, not after every accepted dial: a server that welcomes the
// plugin and drops it at once must not get it back at the shortest wait.
// The zero value's waits are all zero. A Backoff is used by one goroutine;
// copy the configured value for each connection loop.
type Backoff struct {
	// Min is the first wait, and the wait after a stable connection.
	Min time.Duration
	// Max is the longest wait.
	Max time.Duration
	// Factor multiplies the wait after each try.
	Factor float64
	// StableAfter is how long a connection must stay up to start the
	// waits again from Min.
	StableAfter time.Duration
	// next is the wait the next call to Next returns; zero means Min.
	next time.Duration
}

// Next returns how long to wait before the next try and grows the wait
// for the one after it.
func (b *Backoff) Next() time.Duration {
	d := max(b.next, b.Min)
	b.next = min(time.Duration(float64(d)*b.Factor), b.Max)
	return d
}

// Lasted tells b that a connection stayed up for up; it reports whether
// that was long enough (StableAfter) to start the waits again from Min.
func (b *Backoff) Lasted(up time.Duration) bool {
	if up < b.StableAfter {
		return false
	}
	b.next = 0
	return true
}

// Wait waits d, or until ctx is done; it reports whether the whole wait
// passed.
func Wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
