package connio

import (
	"sync"
	"syscall"
)

// TryWrite writes as much of b to the socket behind raw as the kernel
// takes now, and never waits: it returns how much was written, which is
// less than len(b) when the socket's buffer is full (EAGAIN). It is the
// non-blocking write under both a client's Writer and the host–plugin data
// link (sdk/wire), so that whoever has output hands it to the kernel on its
// own goroutine and only a backlog needs a goroutine of its own. The write
// bypasses the runtime's system-call bookkeeping (sysWrite): it cannot
// block.
func TryWrite(raw syscall.RawConn, b []byte) (int, error) {
	tw := tryWrites.Get().(*tryWrite)
	tw.b, tw.n, tw.err = b, 0, nil
	err := raw.Write(tw.fn)
	n, werr := tw.n, tw.err
	tw.b, tw.err = nil, nil
	tryWrites.Put(tw)
	if werr != nil {
		return n, werr
	}
	return n, err
}

// tryWrite is one TryWrite's state, with the function raw.Write calls made
// once for it. A closure made for each call would escape to the heap
// (raw.Write is an interface method): the closure and the two variables it
// fills were three allocations a write, one set per client when a
// broadcast reaches thousands.
type tryWrite struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

var tryWrites = sync.Pool{New: func() any {
	tw := &tryWrite{}
	tw.fn = tw.write
	return tw
}}

// write is the raw write itself, on the socket's descriptor.
func (tw *tryWrite) write(fd uintptr) bool {
	for tw.n < len(tw.b) {
		m, err := sysWrite(int(fd), tw.b[tw.n:])
		if m > 0 {
			tw.n += m
		}
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			break
		}
		if err != nil {
			tw.err = err
			break
		}
		if m == 0 {
			break
		}
	}
	return true // done: never park on the poller here
}
