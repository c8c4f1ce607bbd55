package connio

import "syscall"

// TryWrite writes as much of b to the socket behind raw as the kernel
// takes now, and never waits: it returns how much was written, which is
// less than len(b) when the socket's buffer is full (EAGAIN). It is the
// non-blocking write under both a client's Writer and the host–plugin data
// link (sdk/wire), so that whoever has output hands it to the kernel on its
// own goroutine and only a backlog needs a goroutine of its own. The write
// bypasses the runtime's system-call bookkeeping (sysWrite): it cannot
// block.
func TryWrite(raw syscall.RawConn, b []byte) (int, error) {
	var n int
	var werr error
	err := raw.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, err := sysWrite(int(fd), b[n:])
			if m > 0 {
				n += m
			}
			if err == syscall.EINTR {
				continue
			}
			if err == syscall.EAGAIN {
				break
			}
			if err != nil {
				werr = err
				break
			}
			if m == 0 {
				break
			}
		}
		return true // done: never park on the poller here
	})
	if werr != nil {
		return n, werr
	}
	return n, err
}
