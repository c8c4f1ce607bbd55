package connio

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Poller holds idle connections (see Conn) in one epoll set, without a
// goroutine each. One goroutine waits for the set, and not in a blocking
// system call: the epoll descriptor is itself registered with Go's
// poller, which reports it readable when a connection in it is. Make one
// per plugin (NewPoller) and Close it when the plugin stops.
//
// With PollerOptions.ReadInline the Poller also reads busy plain sockets
// itself (see PollerOptions).
type Poller struct {
	epfd int
	file *os.File // epfd, as Go's poller sees it
	raw  syscall.RawConn
	done chan struct{} // closed when the waiting goroutine has returned
	opts PollerOptions

	// Owned by the waiting goroutine: the buffer and the reader of the
	// connections it reads itself.
	buf []byte
	rd  socketReader

	mu sync.Mutex
	// parked holds the connections waiting, with a one-shot registration,
	// for a goroutine to be started when they are readable; served those
	// the Poller reads itself, registered for as long as they are open.
	parked, served map[int32]*Conn
	next           int32
	closed         bool
}

// NewPoller makes a Poller that parks idle connections, and starts its
// goroutine.
func NewPoller() (*Poller, error) { return NewPollerWith(PollerOptions{}) }

// NewPollerWith makes a Poller with options, and starts its goroutine.
func NewPollerWith(o PollerOptions) (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("connio: epoll: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("connio: epoll: %w", err)
	}
	// A non-blocking descriptor is added to Go's poller by NewFile.
	file := os.NewFile(uintptr(epfd), "connio-epoll")
	raw, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("connio: epoll: %w", err)
	}
	p := &Poller{epfd: epfd, file: file, raw: raw, done: make(chan struct{}), opts: o,
		parked: map[int32]*Conn{}, served: map[int32]*Conn{}}
	go p.loop()
	return p, nil
}

// loop waits for parked connections to have something to read, and wakes
// each one that has. It returns when the Poller is closed.
//
// The rounds run inside the RawConn's Read callback, which returns false
// (wait for Go's poller to report the set readable) after a round that
// left nothing ready, rather than returning from Read after each round:
// each Read starts by forgetting what Go's poller had reported, so a
// connection that became ready during the round would then wait for the
// next one; and waiting first, where the set is known to be empty, saves
// the epoll_wait that would find it so (a system call a round; on a round
// trip through one session every round is such a round).
func (p *Poller) loop() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	var werr error
	rounds := func(fd uintptr) bool {
		for {
			n, err := sysEpollWaitNow(int(fd), events)
			switch {
			case err == syscall.EINTR:
				continue
			case err != nil:
				werr = err
				return true
			case n == 0:
				// Nothing ready: Go's poller waits for the set to be.
				return false
			}
			// The set may still hold something ready when the events
			// filled the array, or a connection the Poller reads had
			// more than a buffer's worth (level-triggered, it stays ready,
			// which makes no new report from Go's poller): look again at
			// once. Otherwise what becomes ready from now on is reported.
			if more := p.round(events[:n]); !more && n < len(events) {
				return false
			}
		}
	}
	for {
		if err := p.raw.Read(rounds); err != nil || werr != nil {
			return
		}
	}
}

// round handles one round of ready connections: it wakes those parked and
// reads those it serves, inside the options' Batch when there are several.
// It reports whether a connection it read may have more to read now.
func (p *Poller) round(events []syscall.EpollEvent) (more bool) {
	// A round of one has nothing to gather: it goes without the Batch,
	// whose holding and releasing a lone round trip would only pay for.
	if p.opts.Batch != nil && len(events) > 1 {
		done := p.opts.Batch()
		defer done()
	}
	for _, ev := range events {
		c, served := p.ready(ev.Fd)
		switch {
		case served:
			if p.readServed(c) {
				more = true
			}
		case c != nil:
			c.wake()
		}
	}
	return more
}

// add puts c into the set, waiting for it to be readable (or hung up);
// it reports false when c cannot be parked (the Poller is closed, or the
// connection is).
func (p *Poller) add(c *Conn) bool {
	if p == nil || c.raw == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// One shot: the first event disarms it, so that a connection is woken
	// once however much arrives before its goroutine reads. It stays in
	// the set, disarmed, until it parks again (re-armed with MOD, under a
	// new token) or its descriptor is closed (the kernel then drops it):
	// waking and closing cost no system call.
	return p.registerLocked(c, syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLONESHOT, p.parked)
}

// registerLocked puts c into the epoll set under a new token, for events
// (added, or re-armed when it is there already), and records it in set.
// It reports false when the Poller is closed or the descriptor is.
func (p *Poller) registerLocked(c *Conn, events uint32, set map[int32]*Conn) bool {
	if p.closed {
		return false
	}
	p.newTokenLocked()
	ev := syscall.EpollEvent{Events: events, Fd: p.next}
	op := syscall.EPOLL_CTL_ADD
	if c.registered {
		op = syscall.EPOLL_CTL_MOD
	}
	var cerr error
	// Under Control, the descriptor cannot be closed meanwhile.
	if err := c.raw.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
	}); err != nil || cerr != nil {
		return false
	}
	c.registered = true
	c.token = p.next
	set[c.token] = c
	return true
}

// newTokenLocked picks p.next, the token of a connection entering the
// set. Tokens are reused only once the connection that had one left the
// set: those still in it after a wrap are skipped.
func (p *Poller) newTokenLocked() {
	for {
		p.next++
		if p.next <= 0 {
			p.next = 1
		}
		_, parked := p.parked[p.next]
		_, served := p.served[p.next]
		if !parked && !served {
			return
		}
	}
}

// serve registers c to be read by the Poller itself for as long as it is
// open; it reports false when the Poller does not read inline, is closed,
// or c is not a plain socket (TLS): c is then read by a goroutine.
func (p *Poller) serve(c *Conn) bool {
	if p == nil || !p.opts.ReadInline || c.raw == nil {
		return false
	}
	if _, plain := c.rd.(*socketReader); !plain {
		return false
	}
	// Registered and marked inline in one step under c.mu (taken before
	// p.mu, as park does), so that a Close sees either a connection not
	// yet served, which its reading goroutine then ends, or one whose end
	// the Poller or Close reports.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Level-triggered: a connection with bytes left after a read (more
	// than the buffer held) is reported again in the next round, so one
	// read per round serves it; nothing to re-arm.
	c.inline = p.registerLocked(c, syscall.EPOLLIN|syscall.EPOLLRDHUP, p.served)
	return c.inline
}

// ready returns the connection under token, taking a parked one out of
// the set's bookkeeping (its one-shot registration has disarmed itself);
// served tells that the Poller reads it itself. It returns nil when the
// connection has left already: closed meanwhile, its event was on the way.
func (p *Poller) ready(token int32) (c *Conn, served bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.served[token]; c != nil {
		return c, true
	}
	c = p.parked[token]
	if c != nil {
		delete(p.parked, token)
	}
	return c, false
}

// readServed reads what a connection the Poller serves has, hands it to
// the connection's handler, and reports its end when reading ended. It
// reports whether the read filled the buffer: the socket may hold more.
func (p *Poller) readServed(c *Conn) (full bool) {
	if !c.beginInlineRead() {
		return false
	}
	size := c.opts.BufferSize
	if cap(p.buf) < size {
		p.buf = make([]byte, size)
	}
	buf := p.buf[:size]
	n, err := p.rd.readNow(c.raw, buf)
	if n > 0 {
		c.CountRead(n)
		c.handle(buf[:n])
		if c.opts.OnIdle != nil {
			c.opts.OnIdle()
		}
	}
	if endErr, end := c.endInlineRead(err); end {
		p.remove(c)
		c.finish(endErr)
		return false
	}
	return n == size
}

// remove forgets c, about to be closed or ended: a parked connection's
// descriptor leaves the epoll set when it is closed, and an event already
// on the way finds no connection under its token; a served one is taken
// out of the set at once, since its registration stays armed.
func (p *Poller) remove(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.parked[c.token] == c {
		delete(p.parked, c.token)
	}
	if p.served[c.token] == c {
		delete(p.served, c.token)
		// Under Control the descriptor is not closed meanwhile; a closed
		// one has left the set with its last reference.
		_ = c.raw.Control(func(fd uintptr) {
			_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
		})
	}
}

// Len returns the number of connections held with no goroutine of their
// own now: parked, or read by the Poller itself.
func (p *Poller) Len() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked) + len(p.served)
}

// Close stops the Poller: the connections parked in it or read by it go
// back to being read by a goroutine each, and none is parked from then
// on. It waits for the Poller's goroutine to return.
func (p *Poller) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var woken, served []*Conn
	for token, c := range p.parked {
		delete(p.parked, token)
		woken = append(woken, c)
	}
	for token, c := range p.served {
		delete(p.served, token)
		served = append(served, c)
	}
	p.mu.Unlock()
	// Closing the epoll descriptor ends every registration in it.
	err := p.file.Close()
	<-p.done
	for _, c := range woken {
		c.wake()
	}
	for _, c := range served {
		c.leavePoller()
	}
	return err
}
