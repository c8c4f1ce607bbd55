package sdk

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// Large broadcasts off the link's reader.
//
// The host's events are applied by the link's reader, one after another.
// A broadcast to thousands of sessions is thousands of socket writes (a
// reload's " Server restart initiated ..." to 10,000 clients takes 0.1 to
// 0.4 s), and while the reader writes it reads nothing: the reload's next
// steps (the plugin's Detached, the host's push of every session's data,
// the end of the link) waited for it, and so did the new host image.
//
// So a broadcast to at least asyncFanout sessions is handed to a goroutine
// of its own, the client lane, and the reader reads on. While the lane has
// work, every later event that reaches clients or their sessions (output,
// disconnects, logins, syncs) is queued behind it, and runs there in the
// order it came: each client still gets what the host sent in the host's
// order, and a sync never overtakes output rendered before it. Only events
// of the link itself (acknowledgements, session id grants, key check
// answers) and the reader's own frames (pings, the reload's Detach) go
// ahead. Whatever reads the sessions for a host (Sessions, a shutdown)
// waits for the lane first. The lane's goroutine exists only while it has
// work; its queue is bounded, past which the reader waits, so that a host
// sending faster than the clients take it is held back as before.

// asyncFanout is the number of recipients from which a broadcast runs on
// the client lane.
const asyncFanout = 1000

// laneLimit bounds the events queued on the client lane; past it the
// reader waits for the lane to drain.
const laneLimit = 4096

// splitFanout is the number of recipients from which a broadcast's writes
// are split between goroutines, one for each CPU Go runs on: the same as
// asyncFanout, so that a broadcast on the client lane is written in parts.
//
// Each client's write is a system call that does the kernel's delivery of
// the bytes (on loopback, up to waking the client's reader) before it
// returns: a broadcast to 10,000 is 10,000 of them, 0.1 s and more of one
// CPU, while the other CPUs have nothing of it to do. Split, the parts are
// written at once. The bench's fan-out on two cores (BENCHMARKS.md,
// session 7), medians of 5 broadcasts: to 10,000, 104–139 ms in 6 runs
// against 140–185 ms written by one goroutine, and the bench's clients
// took less CPU to read it; to 1,000, 11.7–13.8 ms in 3 runs against
// 14.6–20.6. What follows the broadcast on the lane waits for every part.
const splitFanout = 1000

// deliver hands output from the host to each of its sessions still here:
// a broadcast to at least p.splitAt sessions in parts written at once.
// A session's part is its id modulo the number of parts, not its place in
// ids, so that a session the host listed twice is still written to by one
// goroutine, one call after another (Conn.Send's promise). It returns
// when all of it has been handed over.
func (p *Portal) deliver(ids []uint64, msgs []Message) {
	parts := runtime.GOMAXPROCS(0)
	if len(ids) < p.splitAt || parts < 2 {
		p.deliverPart(ids, msgs, 0, 1)
		return
	}
	var wg sync.WaitGroup
	for part := 1; part < parts; part++ {
		wg.Go(func() { p.deliverPart(ids, msgs, part, parts) })
	}
	p.deliverPart(ids, msgs, 0, parts)
	wg.Wait()
}

// deliverPart hands output, in ids' order, to the sessions still here whose
// id is part modulo parts.
func (p *Portal) deliverPart(ids []uint64, msgs []Message, part, parts int) {
	for _, id := range ids {
		if id%uint64(parts) != uint64(part) {
			continue
		}
		if s := p.Session(id); s != nil {
			s.conn.Send(s, msgs)
		}
	}
}

// clientLane runs work on clients in order, off the link's reader.
type clientLane struct {
	// busy is set while the lane has work (queued or running): the
	// reader's quick check before it applies an event itself.
	busy atomic.Bool

	mu    sync.Mutex
	queue []func()
	// idle is closed when the lane's work is done; a new one is made each
	// time it starts.
	idle chan struct{}
}

// start queues f and makes sure the lane runs.
func (l *clientLane) start(f func()) {
	l.mu.Lock()
	l.queue = append(l.queue, f)
	if l.busy.Load() {
		l.mu.Unlock()
		return
	}
	l.busy.Store(true)
	l.idle = make(chan struct{})
	l.mu.Unlock()
	go l.run()
}

// do runs f after the lane's work: queued when the lane is busy (the
// reader waits first when the queue is at its bound), at once otherwise.
func (l *clientLane) do(f func()) {
	l.mu.Lock()
	if !l.busy.Load() {
		l.mu.Unlock()
		f()
		return
	}
	full := len(l.queue) >= laneLimit
	idle := l.idle
	if !full {
		l.queue = append(l.queue, f)
	}
	l.mu.Unlock()
	if full {
		<-idle
		f()
	}
}

// run is the lane's goroutine: it ends when the queue is empty.
func (l *clientLane) run() {
	for {
		l.mu.Lock()
		if len(l.queue) == 0 {
			l.queue = nil
			l.busy.Store(false)
			close(l.idle)
			l.mu.Unlock()
			return
		}
		f := l.queue[0]
		l.queue[0] = nil
		l.queue = l.queue[1:]
		l.mu.Unlock()
		f()
	}
}

// wait returns once the lane's work queued so far is done, or ctx ends.
func (l *clientLane) wait(ctx context.Context) error {
	l.mu.Lock()
	busy, idle := l.busy.Load(), l.idle
	l.mu.Unlock()
	if !busy {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
