package sdk

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// MsgServerFull is what a client refused at the process's open-file limit
// is told (FileLimitListener).
const MsgServerFull = "The server cannot take more connections right now. Please try again in a minute."

// RefusalLine is MsgServerFull as a line of text, for line protocols
// (telnet, and SSH, whose clients may be sent lines before the version
// exchange).
var RefusalLine = []byte(MsgServerFull + "\r\n")

// RefusalHTTP is MsgServerFull as an HTTP response, for plugins that serve
// HTTP (the webclient).
var RefusalHTTP = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\nRetry-After: 60\r\nContent-Length: " + strconv.Itoa(len(MsgServerFull)+2) + "\r\n\r\n" +
	MsgServerFull + "\r\n")

// FileLimitOptions adjust FileLimitListener.
type FileLimitOptions struct {
	// Refusal is written to a connection refused at the limit before it
	// is closed: RefusalLine for a line protocol, RefusalHTTP for HTTP.
	// Nil closes it without a word, which is right under TLS: the client
	// expects a handshake, and would show nothing of a plain text.
	Refusal []byte
	// Log gets one warning when the limit is first hit and then, while
	// connections go on being refused, at most one a minute with how many
	// were; nil logs nothing.
	Log *slog.Logger
	// Name starts each log line ("telnet").
	Name string
}

// logEvery is how often, at most, a listener at the limit logs.
const logEvery = time.Minute

// Backoff while a connection cannot be refused properly (the reserve
// descriptor is gone too): Accept tries again after these, doubling.
const (
	minLimitBackoff = 5 * time.Millisecond
	maxLimitBackoff = time.Second
)

// FileLimitListener returns ln made to behave at the process's open-file
// limit (EMFILE, or the system's, ENFILE). A bare accept loop fails there
// at once, again and again, while the connection that cannot be accepted
// waits in the kernel's queue: it spins or backs off, logs each failure
// (ten lines a second), and the client hangs. This one keeps a spare
// descriptor in reserve; at the limit it gives the spare up, accepts the
// waiting connection with it, writes o.Refusal, closes it and takes the
// spare back, so that the client is told at once and nothing spins. The
// limit is logged once, and then once a minute with a count while it
// lasts. Accept never returns an error for the limit. Wrap the raw TCP
// listener, under TLS or a connection count.
//
// The connections it accepts and refuses are counted among the figures the
// host serves (see Portal.AddFigure): each connection it returns counts as
// open until its first Close, and its bytes read and written are counted,
// one atomic add per Read or Write. It still exposes its socket
// (syscall.Conn), so that connio parks and writes to it as before.
func FileLimitListener(ln net.Listener, o FileLimitOptions) net.Listener {
	l := &fileLimitListener{Listener: ln, o: o, closed: make(chan struct{}), figures: processFigures,
		afterFunc: func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }}
	l.reserve, _ = openReserve()
	return l
}

type fileLimitListener struct {
	net.Listener
	o FileLimitOptions
	// afterFunc is time.AfterFunc (a test's clock otherwise); it returns
	// the timer's Stop.
	afterFunc func(time.Duration, func()) func() bool
	closed    chan struct{}
	closeOnce sync.Once
	// figures count the connections accepted and refused, and the
	// accepted ones' bytes (figures.go).
	figures *figures

	// reserve is used by the accept loop only (never concurrently: one
	// goroutine calls Accept), and by Close after the loop has ended or
	// alongside it (see Close).
	reserveMu sync.Mutex
	reserve   *os.File

	mu sync.Mutex
	// refused counts the connections refused since the last log line;
	// stopLog stops the timer of the next one (nil while the limit is not
	// being hit).
	refused int
	stopLog func() bool
	// done is set by Close: nothing is logged after it.
	done bool
}

// openReserve holds one descriptor, to be given up at the limit.
func openReserve() (*os.File, error) { return os.Open(os.DevNull) }

// isFileLimit reports whether err is the process's or the system's
// open-file limit.
func isFileLimit(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// Accept returns the next connection; at the open-file limit it refuses
// waiting connections (see FileLimitListener) until one can be accepted.
func (l *fileLimitListener) Accept() (net.Conn, error) {
	backoff := time.Duration(0)
	for {
		nc, err := l.Listener.Accept()
		if err == nil {
			return countConn(nc, l.figures), nil
		}
		if !isFileLimit(err) {
			return nil, err
		}
		refused, err := l.refuseOne(err)
		if err != nil {
			return nil, err
		}
		if refused {
			backoff = 0
			continue
		}
		// No spare to refuse with: wait a little for a descriptor to
		// come free, then try again.
		backoff = min(max(2*backoff, minLimitBackoff), maxLimitBackoff)
		t := time.NewTimer(backoff)
		select {
		case <-l.closed:
			t.Stop()
			return nil, net.ErrClosed
		case <-t.C:
		}
	}
}

// refuseOne gives the reserve up, accepts the waiting connection in its
// place, tells it and closes it, then takes the reserve back. It reports
// whether it refused one, and the error of that accept when it is neither
// the limit nor a success (the listener was closed).
func (l *fileLimitListener) refuseOne(cause error) (bool, error) {
	l.reserveMu.Lock()
	defer l.reserveMu.Unlock()
	if l.reserve == nil {
		// Spent earlier and not taken back (the descriptor went to
		// someone else): try to take it back now.
		l.reserve, _ = openReserve()
		l.noteRefused(cause, false)
		return false, nil
	}
	l.reserve.Close()
	l.reserve = nil
	nc, err := l.Listener.Accept()
	if err == nil {
		// A fresh connection's send buffer is empty: a short write does
		// not block.
		if len(l.o.Refusal) > 0 {
			_ = nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = nc.Write(l.o.Refusal)
			drainRefused(nc)
		}
		_ = nc.Close()
	}
	// Taken back once the connection's descriptor is free again.
	l.reserve, _ = openReserve()
	if err != nil && !isFileLimit(err) {
		return false, err
	}
	if err == nil {
		l.figures.refusedFileLimit.Add(1)
	}
	l.noteRefused(cause, err == nil)
	return err == nil, nil
}

// noteRefused logs the limit once, then counts: the count is logged once
// a minute while the limit goes on being hit. refused says whether a
// connection was refused (rather than only found waiting).
func (l *fileLimitListener) noteRefused(cause error, refused bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if refused {
		l.refused++
	}
	if l.stopLog != nil || l.done {
		return
	}
	if l.o.Log != nil {
		l.o.Log.Warn(l.o.Name+": at the open-file limit: refusing new connections (raise the limit, ulimit -n)",
			"addr", l.Addr().String(), "err", cause)
	}
	l.refused = 0
	l.stopLog = l.afterFunc(logEvery, l.logCount)
}

// logCount logs how many connections were refused in the last minute, and
// ends the quiet period when none were.
func (l *fileLimitListener) logCount() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopLog == nil || l.done {
		return
	}
	n := l.refused
	l.refused = 0
	if n == 0 {
		l.stopLog = nil
		return
	}
	if l.o.Log != nil {
		l.o.Log.Warn(l.o.Name+": still at the open-file limit", "addr", l.Addr().String(), "refused", n, "in", logEvery)
	}
	l.stopLog = l.afterFunc(logEvery, l.logCount)
}

// Close closes the listener, its reserve and its log timer.
func (l *fileLimitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() {
		close(l.closed)
		l.mu.Lock()
		l.done = true
		if l.stopLog != nil {
			l.stopLog()
			l.stopLog = nil
		}
		l.mu.Unlock()
		// After the listener is closed, so that an Accept in refuseOne
		// has returned and the loop no longer holds the reserve.
		l.reserveMu.Lock()
		if l.reserve != nil {
			l.reserve.Close()
			l.reserve = nil
		}
		l.reserveMu.Unlock()
	})
	return err
}
