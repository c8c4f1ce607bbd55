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
type Poller struct {
	epfd int
	file *os.File // epfd, as Go's poller sees it
	raw  syscall.RawConn
	done chan struct{} // closed when the waiting goroutine has returned

	mu     sync.Mutex
	parked map[int32]*Conn
	next   int32
	closed bool
}

// NewPoller makes a Poller and starts its goroutine.
func NewPoller() (*Poller, error) {
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
	p := &Poller{epfd: epfd, file: file, raw: raw, done: make(chan struct{}), parked: map[int32]*Conn{}}
	go p.loop()
	return p, nil
}

// loop waits for parked connections to have something to read, and wakes
// each one that has. It returns when the Poller is closed.
func (p *Poller) loop() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	for {
		var n int
		var werr error
		err := p.raw.Read(func(fd uintptr) bool {
			n, werr = syscall.EpollWait(int(fd), events, 0)
			if werr == syscall.EINTR {
				n, werr = 0, nil
			}
			// Nothing ready: Go's poller waits for the set to be.
			return n > 0 || werr != nil
		})
		if err != nil || werr != nil {
			return
		}
		for _, ev := range events[:n] {
			if c := p.take(ev.Fd); c != nil {
				c.wake()
			}
		}
	}
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
	if p.closed {
		return false
	}
	// Tokens are reused only once the connection that had one left the
	// set: skip those still in it after a wrap.
	for {
		p.next++
		if p.next <= 0 {
			p.next = 1
		}
		if _, used := p.parked[p.next]; !used {
			break
		}
	}
	// One shot: the first event disarms it, so that a connection is woken
	// once however much arrives before its goroutine reads. It stays in
	// the set, disarmed, until it parks again (re-armed with MOD, under a
	// new token) or its descriptor is closed (the kernel then drops it):
	// waking and closing cost no system call.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: p.next}
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
	p.parked[c.token] = c
	return true
}

// take returns the connection parked under token and forgets it (its
// one-shot registration has disarmed itself), or nil when it has left
// already: closed meanwhile, its event was on the way.
func (p *Poller) take(token int32) *Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.parked[token]
	if c != nil {
		delete(p.parked, token)
	}
	return c
}

// remove forgets c, parked and about to be closed: closing its descriptor
// takes it out of the epoll set, and an event already on the way finds no
// connection under its token.
func (p *Poller) remove(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.parked[c.token] == c {
		delete(p.parked, c.token)
	}
}

// Len returns the number of connections parked now.
func (p *Poller) Len() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

// Close stops the Poller: the connections parked in it go back to being
// read by a goroutine each, and none is parked from then on. It waits for
// the Poller's goroutine to return.
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
	var woken []*Conn
	for token, c := range p.parked {
		delete(p.parked, token)
		woken = append(woken, c)
	}
	p.mu.Unlock()
	err := p.file.Close()
	<-p.done
	for _, c := range woken {
		c.wake()
	}
	return err
}
