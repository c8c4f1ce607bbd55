package sdk

import (
	"sync"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
)

// BotStatus is a bridge bot's state as the host shows it (`portico bot
// list`, `portico status`, @bots): the state, when it began, when the next
// reconnect is due, and the last error. A bot plugin keeps one per bot and
// reports every change with Report, which syncs the session's protocol
// flags (contract.FlagBotState and the others) to the host. It is safe
// for concurrent use.
type BotStatus struct {
	mu      sync.Mutex
	state   string
	since   time.Time
	retryAt time.Time
	lastErr string
}

// NewBotStatus returns a status in state, begun now.
func NewBotStatus(state string) *BotStatus {
	return &BotStatus{state: state, since: time.Now()}
}

// Flags returns the status as protocol flags, for a session's data before
// it connects (Report syncs them later).
func (s *BotStatus) Flags() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flagsLocked()
}

func (s *BotStatus) flagsLocked() map[string]any {
	var retry int64
	if !s.retryAt.IsZero() {
		retry = s.retryAt.Unix()
	}
	return map[string]any{
		contract.FlagBotState:      s.state,
		contract.FlagBotStateSince: s.since.Unix(),
		contract.FlagBotRetryAt:    retry,
		contract.FlagBotError:      s.lastErr,
	}
}

// State returns the state and when it began.
func (s *BotStatus) State() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, s.since
}

// LastError returns the last error reported.
func (s *BotStatus) LastError() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Report records a new state and last error, retryAt being when the next
// attempt is due (zero when none is), and syncs them to the host through
// sess (nil: record only). The time the state began changes only with
// the state. It reports whether anything changed: nothing is synced when
// nothing did.
func (s *BotStatus) Report(sess *Session, state string, retryAt time.Time, lastErr string) bool {
	s.mu.Lock()
	if state == s.state && lastErr == s.lastErr && retryAt.Equal(s.retryAt) {
		s.mu.Unlock()
		return false
	}
	if state != s.state {
		s.state, s.since = state, time.Now()
	}
	s.retryAt, s.lastErr = retryAt, lastErr
	flags := s.flagsLocked()
	s.mu.Unlock()
	if sess != nil {
		sess.SetFlags(flags)
	}
	return true
}
