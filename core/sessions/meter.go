package sessions

import "time"

// Meter counts what the game side does, for the host's metrics
// (core/host serves them to Prometheus). The game side itself knows no
// metrics library: it calls these. Its methods are called on the loop and
// must not block. SetMeter sets one; without it nothing is counted.
type Meter interface {
	// Login counts one login: LoginOK, LoginFailed, LoginThrottled or
	// LoginUnavailable.
	Login(result string)
	// Throttled counts one refusal by a limit, by kind (ThrottleLogin,
	// ThrottleCreate, ThrottleCreateAttempt, ThrottleCommandRate).
	Throttled(kind string)
	// AccountCreated counts an account made in the game.
	AccountCreated()
	// Command counts one command run and how long its code took; name is
	// the command's key, one of a bounded set.
	Command(name string, took time.Duration)
}

// Login results a Meter counts.
const (
	LoginOK        = "ok"
	LoginFailed    = "failed"
	LoginThrottled = "throttled"
	// LoginUnavailable is a login the store could not check (the database
	// is down or failing): neither the player's fault nor a failure.
	LoginUnavailable = "unavailable"
)

// ThrottleCommandRate is the kind a Meter counts a command dropped by
// limits.command_rate under.
const ThrottleCommandRate = "command_rate"

// noMeter counts nothing.
type noMeter struct{}

func (noMeter) Login(string)                  {}
func (noMeter) Throttled(string)              {}
func (noMeter) AccountCreated()               {}
func (noMeter) Command(string, time.Duration) {}

// SetMeter sets what counts the handler's logins, refusals and commands;
// call it before Run.
func (h *ServerSessionHandler) SetMeter(m Meter) { h.meter = m }

// Meter returns the handler's meter (one that counts nothing when none
// was set), for the command handlers to count with.
func (h *ServerSessionHandler) Meter() Meter {
	if h.meter == nil {
		return noMeter{}
	}
	return h.meter
}
