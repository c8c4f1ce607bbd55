package sdk

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/portico-mud/portico/sdk/portalpb"
)

// ErrKeyCheckUnavailable is CheckKey's error when nobody can answer: a
// test portal (NewTestPortal) that was given no AnswerKeyChecks.
var ErrKeyCheckUnavailable = errors.New("portal: no host to check the key")

// keyChecks are the KeyCheck requests waiting for the host's answer.
type keyChecks struct {
	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan bool
	// unlinked is set on test portals: no host will ever answer.
	unlinked bool
	// answer, on a test portal, answers in place of a host.
	answer func(name string, publicKey []byte) bool
}

// CheckKey asks the host whether publicKey (SSH wire format) logs the
// account called name in: an SSH server accepts, during its handshake,
// only keys that would, so that a client whose keys log nobody in goes on
// to ask for a password. The answer is advice for the handshake and proves
// nothing: the credentials the session connects with are checked again.
// It waits for the host's answer until ctx ends; while the host reloads,
// the question waits in the outbox like every other event.
func (p *Portal) CheckKey(ctx context.Context, name string, publicKey []byte) (bool, error) {
	k := &p.keys
	k.mu.Lock()
	if k.unlinked {
		answer := k.answer
		k.mu.Unlock()
		if answer == nil {
			return false, ErrKeyCheckUnavailable
		}
		return answer(name, publicKey), nil
	}
	if k.pending == nil {
		k.pending = map[uint64]chan bool{}
	}
	k.next++
	id := k.next
	ch := make(chan bool, 1)
	k.pending[id] = ch
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		delete(k.pending, id)
		k.mu.Unlock()
	}()
	if err := p.outbox.Put(&portalpb.Event{Kind: &portalpb.Event_KeyCheck{KeyCheck: &portalpb.KeyCheck{
		Id: id, Name: name, PublicKey: publicKey}}}); err != nil {
		return false, fmt.Errorf("portal: check key: %w", err)
	}
	select {
	case ok := <-ch:
		return ok, nil
	case <-ctx.Done():
		return false, fmt.Errorf("portal: check key: %w", ctx.Err())
	}
}

// keyChecked delivers the host's answer to the CheckKey waiting for it; an
// answer nobody waits for any more (timed out) is dropped.
func (p *Portal) keyChecked(id uint64, accepted bool) {
	k := &p.keys
	k.mu.Lock()
	ch := k.pending[id]
	delete(k.pending, id)
	k.mu.Unlock()
	if ch != nil {
		ch <- accepted
	}
}

// AnswerKeyChecks makes a test portal (NewTestPortal) answer CheckKey with
// answer in place of a host. Without it a test portal's CheckKey fails with
// ErrKeyCheckUnavailable. It has no effect on a portal linked to a host.
func (p *Portal) AnswerKeyChecks(answer func(name string, publicKey []byte) bool) {
	p.keys.mu.Lock()
	defer p.keys.mu.Unlock()
	p.keys.answer = answer
}
