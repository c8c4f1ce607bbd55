package sdk

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// scriptedListener returns, from Accept, the errors and connections it is
// given, in order, and then blocks until closed.
type scriptedListener struct {
	steps  chan any // error or net.Conn
	closed chan struct{}
	once   sync.Once
}

func newScriptedListener() *scriptedListener {
	return &scriptedListener{steps: make(chan any, 4096), closed: make(chan struct{})}
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	select {
	case s := <-l.steps:
		if err, ok := s.(error); ok {
			return nil, err
		}
		return s.(net.Conn), nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *scriptedListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *scriptedListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}
}

// lockedLog collects log output from several goroutines.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) lines(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), substr)
}

// fakeTimers replaces time.AfterFunc: the test fires the pending timer.
type fakeTimers struct {
	mu      sync.Mutex
	pending []func()
}

func (f *fakeTimers) afterFunc(_ time.Duration, fn func()) func() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, fn)
	return func() bool { return true }
}

// fire runs the timers set so far and reports how many there were.
func (f *fakeTimers) fire() int {
	f.mu.Lock()
	fns := f.pending
	f.pending = nil
	f.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
	return len(fns)
}

// TestFileLimitRefusesAndLogsOnce drives the listener with a scripted
// accept loop: every connection waiting at the limit is accepted with the
// reserve descriptor, told RefusalLine and closed; the limit is logged once
// for a burst, then once per (fake) minute with the count while it lasts,
// and a quiet minute ends the period so that the next hit is logged at once.
func TestFileLimitRefusesAndLogsOnce(t *testing.T) {
	sl := newScriptedListener()
	var logs lockedLog
	timers := &fakeTimers{}
	ln := FileLimitListener(sl, FileLimitOptions{Refusal: RefusalLine, Name: "unit",
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	ln.(*fileLimitListener).afterFunc = timers.afterFunc
	figs := &figures{}
	ln.(*fileLimitListener).figures = figs
	defer ln.Close()

	const burst = 50
	clients := make([]net.Conn, burst)
	for i := range clients {
		client, server := net.Pipe()
		clients[i] = client
		// Accept fails at the limit; the retry with the reserve given up
		// gets the waiting connection.
		sl.steps <- fmt.Errorf("accept tcp: %w", syscall.EMFILE)
		sl.steps <- server
	}
	ok, other := net.Pipe()
	sl.steps <- other

	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			t.Errorf("Accept: %v", err)
		}
		accepted <- nc
	}()
	for i, c := range clients {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || string(got) != string(RefusalLine) {
			t.Fatalf("client %d read %q, %v; want %q then EOF", i, got, err, RefusalLine)
		}
	}
	select {
	case nc := <-accepted:
		if cc, ok := nc.(*countingConn); !ok || cc.Conn != other {
			t.Fatalf("Accept returned %v, want the connection after the refused ones (counted)", nc)
		}
		if figs.refusedFileLimit.Load() != burst || figs.accepted.Load() != 1 {
			t.Errorf("counted %d refused at the file limit and %d accepted, want %d and 1",
				figs.refusedFileLimit.Load(), figs.accepted.Load(), burst)
		}
		nc.Close()
		ok.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return the connection after the refused ones")
	}
	if n := logs.lines("at the open-file limit: refusing"); n != 1 {
		t.Fatalf("%d warnings for a burst of %d refusals, want 1:\n%s", n, burst, logs.buf.String())
	}
	if timers.fire() != 1 {
		t.Fatal("no timer for the minute's count")
	}
	if n := logs.lines(fmt.Sprintf("refused=%d", burst-1)); n != 1 {
		t.Fatalf("the minute's count: want one line with refused=%d:\n%s", burst-1, logs.buf.String())
	}
	// A minute with no refusal ends the period without a line.
	if timers.fire() != 1 {
		t.Fatal("no timer for the next minute")
	}
	if n := logs.lines("still at the open-file limit"); n != 1 {
		t.Fatalf("a quiet minute logged: %s", logs.buf.String())
	}
	if timers.fire() != 0 {
		t.Fatal("a timer still runs after a quiet minute")
	}
	// The next hit is news again.
	client, server := net.Pipe()
	sl.steps <- fmt.Errorf("accept tcp: %w", syscall.ENFILE)
	sl.steps <- server
	go func() {
		if _, err := ln.Accept(); err == nil {
			t.Error("Accept after Close succeeded")
		}
	}()
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(client); err != nil || string(got) != string(RefusalLine) {
		t.Fatalf("after a quiet minute: read %q, %v", got, err)
	}
	// The line follows the close the client saw.
	for deadline := time.Now().Add(5 * time.Second); logs.lines("at the open-file limit: refusing") != 2; {
		if time.Now().After(deadline) {
			t.Fatalf("after a quiet minute the limit was not logged again:\n%s", logs.buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ln.Close()
}

// TestFileLimitOtherErrorsPass checks an error that is not the limit is
// returned as it is.
func TestFileLimitOtherErrorsPass(t *testing.T) {
	sl := newScriptedListener()
	ln := FileLimitListener(sl, FileLimitOptions{})
	defer ln.Close()
	want := fmt.Errorf("accept tcp: %w", syscall.ECONNABORTED)
	sl.steps <- want
	if _, err := ln.Accept(); err != want {
		t.Fatalf("Accept = %v, want %v", err, want)
	}
}

// TestFileLimitClosedWhileRefusing checks that a listener closed while it
// refuses at the limit returns net.ErrClosed and logs nothing more (a
// plugin's Shutdown or a listen swap is not news about the limit).
func TestFileLimitClosedWhileRefusing(t *testing.T) {
	sl := newScriptedListener()
	var logs lockedLog
	ln := FileLimitListener(sl, FileLimitOptions{Refusal: RefusalLine, Name: "unit",
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	sl.steps <- fmt.Errorf("accept tcp: %w", syscall.EMFILE)
	sl.Close()
	if _, err := ln.Accept(); err != net.ErrClosed {
		t.Fatalf("Accept = %v, want net.ErrClosed", err)
	}
	ln.Close()
	if logs.lines("open-file limit") != 0 {
		t.Fatalf("logged while closing:\n%s", logs.buf.String())
	}
}
