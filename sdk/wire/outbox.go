package wire

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/portico-mud/portico/sdk/portalpb"
)

// Frame bounds. A frame never waits to fill: whatever is queued when the
// sender wakes goes out at once, cut only at these bounds so that no frame
// comes near gRPC's message size limit.
const (
	MaxFrameEvents = 512
	MaxFrameBytes  = 1 << 20
	// MaxMessageBytes is the gRPC message limit both sides set on the link.
	MaxMessageBytes = 16 << 20
)

// ErrOutboxFull is returned by Put when the outbox holds its maximum.
var ErrOutboxFull = errors.New("wire: link outbox full")

// MaxEventBytes bounds one event on the link, well under the gRPC message
// limit: a bigger one would break the link for every session of the
// plugin (Evennia's #1636), so it is refused instead, with ErrEventTooLarge.
const MaxEventBytes = 4 << 20

// ErrEventTooLarge is returned by Put for an event over MaxEventBytes.
var ErrEventTooLarge = errors.New("wire: event too large for the link")

// Outbox carries one side's events to the other. While a data link is
// attached (Attach), Put writes each event on it at once, on the caller's
// goroutine, without waiting (FrameWriter). Otherwise it queues them: for
// the Link stream, whose one sender goroutine takes them as frames (Run),
// or for the next data link. It outlives any one link: events put while
// none is open wait for the next one (the plugin keeps its players' input
// through a host reload).
type Outbox struct {
	mu     sync.Mutex
	events []*portalpb.Event
	max    int
	wake   chan struct{}

	// linkMu guards link, the attached data link. Put holds it for reading
	// across its write or its queuing, so that Attach and Detach, which
	// hold it for writing (briefly: they never write to the socket under
	// it), see no Put half done: nothing queued can be overtaken by what is
	// written inline.
	linkMu sync.RWMutex
	link   *FrameWriter
}

// NewOutbox makes an outbox holding at most max events (0: no bound).
func NewOutbox(max int) *Outbox {
	return &Outbox{max: max, wake: make(chan struct{}, 1)}
}

// Put sends events in order: written on the attached data link, or
// queued. It never blocks; it fails with ErrOutboxFull (queuing nothing)
// when they must be queued and do not fit. Events a stopped or failed data
// link refuses are queued for the next link.
func (o *Outbox) Put(evs ...*portalpb.Event) error {
	if len(evs) == 1 && o.putPlain(evs[0]) {
		return nil
	}
	var one [1]int
	sizes := one[:0]
	if len(evs) > 1 {
		sizes = make([]int, 0, len(evs))
	}
	for _, ev := range evs {
		sizes = append(sizes, proto.Size(ev))
	}
	return o.put(sizes, evs)
}

// putPlain writes ev as a data frame, when it is plain input or output
// within MaxEventBytes and the attached link knows data frames, and
// reports whether it did: it is not sized as protobuf (Put sizes
// everything else, for the bound and for its encoding).
func (o *Outbox) putPlain(ev *portalpb.Event) bool {
	n, ok := plainData(ev)
	if !ok || n > MaxEventBytes {
		return false
	}
	o.linkMu.RLock()
	defer o.linkMu.RUnlock()
	w := o.link
	return w != nil && w.Version() >= DataVersion &&
		w.Append(func(b []byte) ([]byte, error) { return appendDataFrame(b, ev, n), nil }) == nil
}

// PutSized is Put for one event whose size the caller has just computed
// with proto.Size, and which has not changed since (its encoding uses the
// size proto.Size cached in it): sizing it again would walk the whole
// event a second time.
func (o *Outbox) PutSized(ev *portalpb.Event, size int) error {
	return o.put([]int{size}, []*portalpb.Event{ev})
}

// ErrNotData is PutData's answer for an event that cannot go as a data
// frame now: its messages are not plain, or no data link that knows data
// frames is attached. Nothing was put: the caller puts it as an Event.
var ErrNotData = errors.New("wire: not sent as a data frame")

// PutData writes input or output as a data frame on the attached data
// link, built straight from ev, without protobuf messages, and returns its
// size on the link. It fails with ErrNotData, putting nothing, when ev's
// messages are not plain or the link does not know data frames (or none
// is attached); with ErrEventTooLarge past MaxEventBytes. Output a link
// refuses (stopped for a reload, failed) is queued for the next link.
func (o *Outbox) PutData(ev DataEvent) (int, error) {
	n, ok := ev.plain()
	if !ok {
		return 0, ErrNotData
	}
	if n > MaxEventBytes {
		return 0, fmt.Errorf("%w: %d bytes (at most %d)", ErrEventTooLarge, n, MaxEventBytes)
	}
	o.linkMu.RLock()
	defer o.linkMu.RUnlock()
	w := o.link
	if w == nil || w.Version() < DataVersion {
		return 0, ErrNotData
	}
	if w.Append(func(b []byte) ([]byte, error) { return ev.appendTo(b, n), nil }) == nil {
		return n, nil
	}
	pe, err := ev.PB()
	if err != nil {
		return 0, err
	}
	return n, o.queue([]*portalpb.Event{pe})
}

// put is Put with the events' sizes.
func (o *Outbox) put(sizes []int, evs []*portalpb.Event) error {
	for _, n := range sizes {
		if n > MaxEventBytes {
			return fmt.Errorf("%w: %d bytes (at most %d)", ErrEventTooLarge, n, MaxEventBytes)
		}
	}
	o.linkMu.RLock()
	defer o.linkMu.RUnlock()
	if w := o.link; w != nil {
		enc := func(b []byte) ([]byte, error) { return appendSizedEvents(b, sizes, evs) }
		if w.Version() >= DataVersion {
			enc = func(b []byte) ([]byte, error) { return appendFrames(b, sizes, evs) }
		}
		if w.Append(enc) == nil {
			return nil
		}
	}
	return o.queue(evs)
}

// appendFrames appends evs, in order, for a link that knows data frames:
// plain input and output (plainData) as data frames, runs of other events
// as events frames. On an error b is returned as it was.
func appendFrames(b []byte, sizes []int, evs []*portalpb.Event) ([]byte, error) {
	b0, start := len(b), 0
	for i, ev := range evs {
		n, ok := plainData(ev)
		if !ok {
			continue
		}
		if i > start {
			var err error
			if b, err = appendSizedEvents(b, sizes[start:i], evs[start:i]); err != nil {
				return b[:b0], err
			}
		}
		b = appendDataFrame(b, ev, n)
		start = i + 1
	}
	if start < len(evs) {
		var err error
		if b, err = appendSizedEvents(b, sizes[start:], evs[start:]); err != nil {
			return b[:b0], err
		}
	}
	return b, nil
}

// Cork holds back what Put writes on the attached data link until the
// function it returns is called: the events of a batch of work (a round
// of ready connections) then go out in one write, and wake the peer once.
// Put still never blocks, and the link's backlog bound still applies.
// Without an attached link, Cork does nothing (Put queues anyway); a link
// attached meanwhile is not corked.
func (o *Outbox) Cork() (uncork func()) {
	o.linkMu.RLock()
	w := o.link
	o.linkMu.RUnlock()
	if w == nil {
		return func() {}
	}
	w.Cork()
	return w.Uncork
}

// queue adds events to the queue.
func (o *Outbox) queue(evs []*portalpb.Event) error {
	o.mu.Lock()
	if o.max > 0 && len(o.events)+len(evs) > o.max {
		o.mu.Unlock()
		return ErrOutboxFull
	}
	o.events = append(o.events, evs...)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// Len returns the number of queued events.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.events)
}

// take removes the events for one frame.
func (o *Outbox) take() []*portalpb.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.events) == 0 {
		return nil
	}
	n, size := 0, 0
	for n < len(o.events) && n < MaxFrameEvents {
		size += proto.Size(o.events[n])
		if n > 0 && size > MaxFrameBytes {
			break
		}
		n++
	}
	batch := make([]*portalpb.Event, n)
	copy(batch, o.events[:n])
	// Shift rather than reslice so the backing array does not grow forever.
	rest := copy(o.events, o.events[n:])
	clear(o.events[rest:])
	o.events = o.events[:rest]
	return batch
}

// requeue puts events that could not be sent back at the front.
func (o *Outbox) requeue(evs []*portalpb.Event) {
	o.mu.Lock()
	o.events = append(evs, o.events...)
	o.mu.Unlock()
}

// Run sends queued events as frames until ctx ends or send fails. On a send
// error the frame's events are put back so that a later Run (a new stream)
// delivers them. Only one Run may be active at a time.
func (o *Outbox) Run(ctx context.Context, send func(*portalpb.Frame) error) error {
	for {
		// Checked before every frame, not only when idle: under steady
		// traffic the queue never empties, and a replaced link must stop.
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := o.take()
		if batch == nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-o.wake:
				continue
			}
		}
		if err := send(&portalpb.Frame{Events: batch}); err != nil {
			o.requeue(batch)
			return err
		}
	}
}

// Flush sends everything queued now, frame by frame, on the caller's
// goroutine. Use it only while no Run is active (a link being closed).
func (o *Outbox) Flush(send func(*portalpb.Frame) error) error {
	for {
		batch := o.take()
		if batch == nil {
			return nil
		}
		if err := send(&portalpb.Frame{Events: batch}); err != nil {
			o.requeue(batch)
			return err
		}
	}
}

// PutFront puts events back at the front of the queue, ahead of what waits
// there, in the order given: input a plugin sends again to a host that
// reattached (it was sent before, so it goes before what came after it).
// Like a requeue it is not held to the bound: the events were taken once.
func (o *Outbox) PutFront(evs ...*portalpb.Event) {
	o.requeue(evs)
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Holds returns a check of whether an event is queued now: a plugin asks
// it of the input it kept when a link comes up (what is queued was never
// sent). Use it only while no Run is active and no data link is attached
// (what a data link took was written, not queued).
func (o *Outbox) Holds() func(*portalpb.Event) bool {
	o.mu.Lock()
	set := make(map[*portalpb.Event]struct{}, len(o.events))
	for _, ev := range o.events {
		set[ev] = struct{}{}
	}
	o.mu.Unlock()
	return func(ev *portalpb.Event) bool {
		_, ok := set[ev]
		return ok
	}
}

// Attach makes w the data link events are written on: what is queued goes
// first (written by w without waiting), then every Put writes at once.
func (o *Outbox) Attach(w *FrameWriter) error {
	o.linkMu.Lock()
	defer o.linkMu.Unlock()
	for {
		batch := o.take()
		if batch == nil {
			break
		}
		if err := w.preload(func(b []byte) ([]byte, error) { return AppendEvents(b, batch...) }); err != nil {
			o.requeue(batch)
			return err
		}
	}
	o.link = w
	w.kick()
	return nil
}

// Detach stops writing on w, when it is the attached data link, and
// reports whether it was: events are queued again from now on. The caller
// drains w with its Stop.
func (o *Outbox) Detach(w *FrameWriter) bool {
	o.linkMu.Lock()
	defer o.linkMu.Unlock()
	if o.link != w || w == nil {
		return false
	}
	o.link = nil
	return true
}
