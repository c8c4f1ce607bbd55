package connio

import (
	"io"
	"net"
	"os"
	"syscall"
)

// SocketReader returns a reader of conn that reads its socket directly
// (sysRead, through the socket's RawConn, parking on Go's poller when
// nothing is there), when conn is a plain socket; any other connection
// (TLS, a pipe) is returned as it is. Deadlines, Close and the poller
// work as for conn.Read; the difference is that a read costs the
// runtime no system-call hand-off (see sysio_linux.go), which is most of
// what a wake-up of a busy link's reader costs besides the read itself.
// Only one goroutine may read at a time, as with conn.
func SocketReader(conn net.Conn) io.Reader {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return conn
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return conn
	}
	counter, _ := conn.(ReadCounter)
	return &socketReader{raw: raw, counter: counter}
}

// ReadCounter is a connection that counts the bytes read from it (the SDK
// counts a plugin's client traffic so): a SocketReader, which reads the
// connection's socket directly, past its Read, tells it how many bytes it
// read there.
type ReadCounter interface {
	// CountRead counts n bytes read from the socket.
	CountRead(n int)
}

// socketReader reads a socket through its RawConn.
type socketReader struct {
	raw syscall.RawConn
	// counter, when the connection has one, is told what was read.
	counter ReadCounter
	// The read's results, set inside the RawConn's callback; fields, not
	// captured variables, so that a read allocates no closure.
	p   []byte
	n   int
	err error
	f   func(uintptr) bool
	// nowait makes try report an empty socket (again) instead of waiting
	// for the poller: readNow's mode.
	nowait, again bool
}

// Read reads what the socket holds, waiting on Go's poller while it holds
// nothing; a peer that closed its side gives io.EOF.
func (r *socketReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := r.read(r.raw, p, false)
	if n > 0 && r.counter != nil {
		r.counter.CountRead(n)
	}
	return n, err
}

// read is one read of raw into p, waiting for the poller while the socket
// holds nothing unless nowait: then it returns 0 and no error.
func (r *socketReader) read(raw syscall.RawConn, p []byte, nowait bool) (int, error) {
	if r.f == nil {
		r.f = r.try
	}
	r.p, r.n, r.err, r.nowait, r.again = p, 0, nil, nowait, false
	err := raw.Read(r.f)
	n, rerr, again := r.n, r.err, r.again
	r.p = nil
	switch {
	case rerr != nil:
		return 0, rerr
	case err != nil:
		return 0, err
	case again:
		return 0, nil
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// try is the RawConn callback: one read, or false (wait for the poller)
// when the socket has nothing now.
func (r *socketReader) try(fd uintptr) bool {
	for {
		n, err := sysRead(int(fd), r.p)
		switch err {
		case nil:
			r.n = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			r.again = r.nowait
			return r.nowait
		}
		r.err = os.NewSyscallError("read", err)
		return true
	}
}

// readNow reads what the socket behind raw holds now and never waits: 0
// and no error when it holds nothing, io.EOF when the peer closed its
// side. It is the read of a connection a Poller reads itself, which knows
// from epoll that the socket is readable; r is the Poller's, reused for
// every such read so that none allocates.
func (r *socketReader) readNow(raw syscall.RawConn, p []byte) (int, error) {
	return r.read(raw, p, true)
}
