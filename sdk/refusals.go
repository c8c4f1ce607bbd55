package sdk

import "time"

// Refusal replies a RefusalLimiter lets through: a burst, then one every
// refusalEvery.
const (
	refusalBurst = 3
	refusalEvery = time.Second
)

// RefusalLimiter bounds how often a plugin tells a client that its input
// was refused (MsgBadUTF8, MsgTooLong): a flood of bad input must not
// become a flood of replies, as the host tells a client that types too
// fast only once per burst. 2 MB of random bytes over telnet are some
// 15,000 invalid lines; the client is told a few times, not 15,000. It lets
// three replies through at once, then one a second. The zero value is
// ready; it is not safe for concurrent use (it belongs to one connection's
// reader).
type RefusalLimiter struct {
	tokens float64
	last   time.Time
}

// Allow reports whether the refusal of input at now may be told to the
// client; when not, the input is still dropped, silently.
func (l *RefusalLimiter) Allow(now time.Time) bool {
	if l.last.IsZero() {
		l.tokens = refusalBurst
	} else {
		l.tokens = min(refusalBurst, l.tokens+now.Sub(l.last).Seconds()/refusalEvery.Seconds())
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
