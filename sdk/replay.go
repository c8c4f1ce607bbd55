package sdk

import (
	"errors"
	"slices"
	"sync"

	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// Input kept for the host. Every input event the plugin sends is numbered
// (DataIn seq, from 1). While the host acknowledges input (it sent an
// InputReceipt at Configure), the plugin keeps each one until an InputAck
// says it is finished. When a host links up after the last one died, its
// receipt says how far the dead host had taken input before running it:
// kept input above that never ran, and is sent again, first and in order;
// kept input at or below it may have run (a host runs what it received),
// so it is not sent again — commands are not idempotent — and its player
// is told MsgMayNotHaveRun. Input still queued for the link was never sent
// and simply goes out.

// MsgMayNotHaveRun tells a player that the host died while it handled their
// input: it may or may not have taken effect.
const MsgMayNotHaveRun = "Your last command may not have run."

// keptLimit bounds the input kept for acknowledgement. It is reached only
// when the host stops acknowledging for long (it is stuck, or far slower
// than its players); at the bound new input is refused, and the client
// told so (msgBusy), as when the outbox is full: forgetting kept input
// instead would lose it silently if the host then died.
const keptLimit = outboxLimit

// inputLog numbers the plugin's input and keeps what the host has not
// finished.
type inputLog struct {
	mu sync.Mutex
	// acking is set while the host acknowledges input: only then is input
	// kept (a host that does not would never let it go).
	acking bool
	// last is the last seq given.
	last uint64
	// kept is the input not known to be finished, ascending by seq.
	kept []keptInput
	// max bounds kept (keptLimit; tests lower it).
	max int
	// full is set while input is refused at the bound (logged once).
	full bool
	// offer is what the last Configure said, for the next link (see
	// offerReceipt).
	offer receiptOffer
}

// keptInput is one input event kept until the host has finished it.
type keptInput struct {
	seq, sessid uint64
	ev          *portalpb.Event
}

// receiptOffer is what a Configure made while no link was up said about
// input: whether the host acknowledges it and its receipt.
type receiptOffer struct {
	set     bool
	acking  bool
	receipt wire.Receipt
}

// offerReceipt takes what a Configure said about input, for the next link.
// Only a Configure made while no link is up counts: the host that made it
// is the one that links up next (a reattach after a crash or a reload).
// One made over a live link (a live edit of the config) says nothing about
// a host that may come after this one.
func (l *inputLog) offerReceipt(pb *portalpb.InputReceipt, linkUp bool) {
	if linkUp {
		return
	}
	r, acking := wire.ReceiptFromPB(pb)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.offer = receiptOffer{set: true, acking: acking, receipt: r}
}

// errKeptFull is put's error the first time input is refused at the
// bound (it is logged once, not for every line refused).
var errKeptFull = errors.New("portal: input kept for the host at its bound; refusing input until the host acknowledges some")

// put numbers ev's input (a DataIn event of session sessid), queues it
// with queue and keeps it while the host acknowledges input, all under the
// log's lock, so that the queue holds input in seq order. It reports
// false when the input is refused: kept input is at its bound (err is
// errKeptFull the first time), or queue failed (err is why).
func (l *inputLog) put(sessid uint64, ev *portalpb.Event, queue func(*portalpb.Event) error) (ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.acking && len(l.kept) >= l.max {
		if !l.full {
			l.full = true
			return false, errKeptFull
		}
		return false, nil
	}
	ev.GetDataIn().Seq = l.last + 1
	if err := queue(ev); err != nil {
		return false, err
	}
	l.last++
	if l.acking {
		l.kept = append(l.kept, keptInput{seq: l.last, sessid: sessid, ev: ev})
	}
	return true, nil
}

// ack drops the input the host has finished.
func (l *inputLog) ack(a wire.InputAck) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kept = slices.DeleteFunc(l.kept, func(k keptInput) bool { return a.Finished(k.seq) })
	if l.full && len(l.kept) < l.max {
		l.full = false
	}
}

// keptQueue is the queue input waits in for the next link (the Outbox):
// Holds says what it holds now, PutFront puts input back at its front.
type keptQueue interface {
	Holds() func(*portalpb.Event) bool
	PutFront(evs ...*portalpb.Event)
}

// resume settles the kept input when a link comes up, before anything is
// sent on it: what q holds is still to be sent; kept input above the new
// host's receipt goes back at the front of q, in order; the rest may have
// run on a host that is gone, and the sessions it came from are returned,
// once each, to be told MsgMayNotHaveRun. Without a receipt from a
// Configure since the last link (or with one that does not know), nothing
// already sent is sent again.
func (l *inputLog) resume(q keptQueue) (tell []uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// What q holds is looked at under the log's lock, which put holds
	// across numbering, queuing and keeping: input typed meanwhile is
	// either in q and in kept, or in neither. Looked at before the lock,
	// a line put in between would be kept but not seen queued, so put
	// back at the front as well: sent twice, and run twice by the host.
	queued := q.Holds()
	o := l.offer
	l.offer = receiptOffer{}
	if o.set {
		l.acking = o.acking
	}
	known := o.set && o.acking && o.receipt.Known
	var again []*portalpb.Event
	told := map[uint64]bool{}
	keep := l.kept[:0]
	for _, k := range l.kept {
		switch {
		case queued(k.ev):
			keep = append(keep, k)
		case known && k.seq > o.receipt.Received:
			again = append(again, k.ev)
			keep = append(keep, k)
		default:
			if !told[k.sessid] {
				told[k.sessid] = true
				tell = append(tell, k.sessid)
			}
		}
	}
	clear(l.kept[len(keep):])
	l.kept = keep
	if !l.acking {
		// Nobody will acknowledge what is kept: let it go.
		l.kept = nil
	}
	l.full = false
	if len(again) > 0 {
		q.PutFront(again...)
	}
	return tell
}
