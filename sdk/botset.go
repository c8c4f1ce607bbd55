package sdk

import (
	"context"
	"errors"
	"sync"
)

// ErrShuttingDown is BotSet.BeginStart's error once the plugin is
// shutting down.
var ErrShuttingDown = errors.New("the plugin is shutting down")

// BotSet is a bot plugin's running bots, by the bot's name in the game:
// one bot per name (a StartBot of a name that runs replaces the running
// bot), no start once the plugin shuts down, and every bot stopped and
// waited for at Shutdown. B is the plugin's bot type (a pointer). The
// zero value is ready to use; it is safe for concurrent use.
type BotSet[B comparable] struct {
	// startMu serialises starts, so that two starts of one bot cannot
	// both find it not running.
	startMu sync.Mutex

	mu     sync.Mutex
	bots   map[string]B
	closed bool
}

// BeginStart begins a start of the bot named name: it waits for any other
// start to end, and returns the bot of that name that runs now (the zero
// B when none does), for the caller to stop first. end must be called
// when the start is over (Put done, or failed). Once the set is closed it
// returns ErrShuttingDown.
func (s *BotSet[B]) BeginStart(name string) (old B, end func(), err error) {
	s.startMu.Lock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.startMu.Unlock()
		return old, nil, ErrShuttingDown
	}
	return s.bots[name], s.startMu.Unlock, nil
}

// Put records b as the running bot named name.
func (s *BotSet[B]) Put(name string, b B) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bots == nil {
		s.bots = map[string]B{}
	}
	s.bots[name] = b
}

// Forget removes b, which stopped, unless another bot named name already
// took its place.
func (s *BotSet[B]) Forget(name string, b B) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bots[name] == b {
		delete(s.bots, name)
	}
}

// Get returns the running bot named name, or the zero B.
func (s *BotSet[B]) Get(name string) B {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bots[name]
}

// Shutdown closes the set (no more starts), stops every bot with stop and
// waits until each one's done channel is closed, or ctx ends.
func (s *BotSet[B]) Shutdown(ctx context.Context, stop func(B), done func(B) <-chan struct{}) error {
	s.mu.Lock()
	s.closed = true
	bots := make([]B, 0, len(s.bots))
	for _, b := range s.bots {
		bots = append(bots, b)
	}
	s.mu.Unlock()
	for _, b := range bots {
		stop(b)
	}
	for _, b := range bots {
		select {
		case <-done(b):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// InitBotSession fills a bot session's data before Connect: logged in as
// the bot's account (uid, name: the host checks that it started this very
// bot on this plugin), marked as a bot, with its protocol flags (its
// BotStatus's, and the plugin's own).
func InitBotSession(sess *Session, uid int64, name string, flags map[string]any) {
	sess.Update(func(d *SessionData) {
		d.LoggedIn = true
		d.UID = uid
		d.UName = name
		d.SetServerData("bot", true)
		d.SetServerData("bot_name", name)
		d.ProtocolFlags.SetAll(flags)
	})
}
