package main

import (
	"fmt"

	"github.com/portico-mud/portico/sdk"
)

// outQueue is a session's output waiting to be written: while a socket is
// attached and writing, while none is (a reload, a dropped connection), or
// while the client is slow to read. It is bounded in bytes; past the bound
// the oldest output goes, and the player is told how much was lost.
type outQueue struct {
	max   int
	msgs  []sdk.Message
	size  int
	lost  int // messages dropped since the player was last told
	sizes []int
}

// maxQueued bounds the number of messages regardless of their size, so
// that a flood of empty OOB messages cannot grow the slice without end.
const maxQueued = 10000

func (q *outQueue) push(msgs ...sdk.Message) {
	for _, m := range msgs {
		n := messageSize(m)
		q.msgs = append(q.msgs, m)
		q.sizes = append(q.sizes, n)
		q.size += n
	}
	drop := 0
	for drop < len(q.msgs)-1 && (q.size > q.max || len(q.msgs)-drop > maxQueued) {
		q.size -= q.sizes[drop]
		drop++
	}
	if drop > 0 {
		q.lost += drop
		q.msgs = append(q.msgs[:0:0], q.msgs[drop:]...)
		q.sizes = append(q.sizes[:0:0], q.sizes[drop:]...)
	}
}

// unshift puts msgs back at the front, in order (output a socket did not
// take, or a prompt to show again).
func (q *outQueue) unshift(msgs ...sdk.Message) {
	if len(msgs) == 0 {
		return
	}
	rest := q.msgs
	restLost := q.lost
	q.msgs, q.sizes, q.size = nil, nil, 0
	q.push(msgs...)
	q.push(rest...)
	q.lost += restLost
}

// take returns everything queued, with a notice first when output was
// lost, and empties the queue.
func (q *outQueue) take() []sdk.Message {
	msgs := q.msgs
	if q.lost > 0 {
		msgs = append([]sdk.Message{sdk.Text(fmt.Sprintf(msgOutputLost, q.lost))}, msgs...)
	}
	q.msgs, q.sizes, q.size, q.lost = nil, nil, 0, 0
	return msgs
}

func (q *outQueue) empty() bool { return len(q.msgs) == 0 && q.lost == 0 }

func (q *outQueue) reset() { q.msgs, q.sizes, q.size, q.lost = nil, nil, 0, 0 }

// msgOutputLost tells a player that the bound was hit.
const msgOutputLost = "(%d messages of output were lost while your connection was away or slow.)"

// messageSize estimates what a message costs to hold: its strings, and a
// fixed amount for everything else.
func messageSize(m sdk.Message) int {
	n := 32 + len(m.Name)
	for _, a := range m.Args {
		if s, ok := a.(string); ok {
			n += len(s)
		} else {
			n += 32
		}
	}
	return n + 32*len(m.Kwargs)
}
