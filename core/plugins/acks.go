package plugins

import (
	"sync"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// Acknowledging a plugin's input. The plugin numbers its input (DataIn
// seq); the host records in the run's receipt file how far it has taken
// input from the link before running it (receipt.go), and tells the plugin
// on the link, batched, which input is finished (InputAck): run, with the
// async work its session then waited on (sessions.DataInThen says what
// that promises). The plugin keeps input until it is finished; after a
// host crash the next host's receipt tells it what to send again and which
// players to tell their last command may not have run.

// ackDelay is how long acknowledgements gather before one is sent: a few
// milliseconds hold a few hundred lines in the plugin at most, and cost
// one small event per plugin per ackDelay under load (none when idle).
const ackDelay = 5 * time.Millisecond

// inputAcks follows one plugin run's input: what has been received and
// what is not finished yet, and sends the acknowledgements.
type inputAcks struct {
	// send puts an event on the run's link.
	send func(*portalpb.Event)
	// delay is ackDelay (tests change it).
	delay time.Duration

	mu sync.Mutex
	// received is the highest seq that has started to run; running is
	// the one running now (0: none).
	received, running uint64
	// open are the seqs that ran but are not finished (their sessions
	// wait on async work), ascending; a finished seq leaves it once it
	// reaches the front, and waits in closed until then. Input that
	// finishes as it runs, nearly all of it, never enters them.
	open   []uint64
	closed map[uint64]struct{}
	// dirty is set when something changed since the last ack; timer is
	// the pending send, nil when none.
	dirty   bool
	timer   *time.Timer
	stopped bool
}

// newInputAcks starts following a run whose earlier hosts received input
// up to received (the receipt).
func newInputAcks(received uint64, send func(*portalpb.Event)) *inputAcks {
	return &inputAcks{send: send, delay: ackDelay, received: received, closed: map[uint64]struct{}{}}
}

// run runs input seq: f runs it and calls finished once it is finished
// (perhaps at once, before f returns). It runs holding the game's
// ownership; finished does too, later. It reports false, running nothing,
// for a seq that does not come after the last one (a plugin must number
// its input in order): the caller runs that input untracked.
func (a *inputAcks) run(seq uint64, f func(finished func())) bool {
	a.mu.Lock()
	if seq <= a.received {
		a.mu.Unlock()
		return false
	}
	// Running, so that an ack sent meanwhile does not count it finished.
	a.received, a.running = seq, seq
	a.dirty = true
	a.mu.Unlock()
	// ran and early are only touched holding the game's ownership: by f
	// here, and by finished, which runs holding it too.
	ran, early := false, false
	f(func() {
		if !ran {
			early = true
			return
		}
		a.finish(seq)
	})
	ran = true
	a.mu.Lock()
	defer a.mu.Unlock()
	a.running = 0
	if !early {
		a.open = append(a.open, seq)
	}
	a.armLocked()
	return true
}

// armLocked marks the state changed and starts the timer of the next ack
// unless one is pending. a.mu is held.
func (a *inputAcks) armLocked() {
	a.dirty = true
	if a.timer == nil && !a.stopped {
		a.timer = time.AfterFunc(a.delay, a.flush)
	}
}

// finish marks seq finished and arms an ack.
func (a *inputAcks) finish(seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.open) > 0 && a.open[0] == seq {
		a.open = a.open[1:]
		for len(a.open) > 0 {
			if _, ok := a.closed[a.open[0]]; !ok {
				break
			}
			delete(a.closed, a.open[0])
			a.open = a.open[1:]
		}
		if len(a.open) == 0 {
			// Let the array go: a long wait may have grown it.
			a.open = nil
		}
	} else {
		a.closed[seq] = struct{}{}
	}
	a.armLocked()
}

// ackLocked is the acknowledgement of what is known now. a.mu is held.
func (a *inputAcks) ackLocked() wire.InputAck {
	ack := wire.InputAck{Received: a.received, Handled: a.received}
	pending := a.open
	if a.running != 0 {
		// running is above every open seq: it started last.
		pending = append(pending[:len(pending):len(pending)], a.running)
	}
	if len(pending) == 0 {
		return ack
	}
	ack.Handled = pending[0] - 1
	for _, seq := range pending {
		if _, done := a.closed[seq]; done {
			continue
		}
		if len(ack.Unfinished) == wire.MaxAckUnfinished {
			ack.Truncated = true
			break
		}
		ack.Unfinished = append(ack.Unfinished, seq)
	}
	return ack
}

// flush sends what has changed since the last ack. It is sent under the
// lock, so that acks go out in the order they were made.
func (a *inputAcks) flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.timer = nil
	if !a.dirty || a.stopped {
		return
	}
	a.dirty = false
	a.send(wire.InputAckToPB(a.ackLocked()))
}

// stop ends the run's acks: none is sent after it.
func (a *inputAcks) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = true
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
}
