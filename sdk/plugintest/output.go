package plugintest

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Output collects what a peer sends (a socket, an SSH channel, a child
// process's pipe or terminal) so that a test can wait for text in it.
// Waits consume: Await finds only what arrived after what the previous
// Await consumed.
type Output struct {
	mu  sync.Mutex
	buf []byte
	// seen is how much of buf the waits have consumed.
	seen int
	// update is signalled whenever bytes arrive.
	update chan struct{}
	// closed is closed when Collect has returned.
	closed chan struct{}
}

// NewOutput returns an empty Output; call Collect (once) to fill it.
func NewOutput() *Output {
	return &Output{update: make(chan struct{}, 1), closed: make(chan struct{})}
}

// Collect reads r until it ends or fails, then closes Closed. It is meant
// to run on its own goroutine, whose end is r's.
func (o *Output) Collect(r io.Reader) {
	defer close(o.closed)
	b := make([]byte, 4096)
	for {
		n, err := r.Read(b)
		if n > 0 {
			o.mu.Lock()
			o.buf = append(o.buf, b[:n]...)
			o.mu.Unlock()
			select {
			case o.update <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

// Closed is closed once Collect has read everything (the peer ended the
// stream, or it was closed).
func (o *Output) Closed() <-chan struct{} { return o.closed }

// Updated is signalled (at most one signal pending) whenever bytes arrive,
// for a test's own wait loop.
func (o *Output) Updated() <-chan struct{} { return o.update }

// Await waits until want appears in the output not yet consumed, consumes
// up to its end and returns what it consumed.
func (o *Output) Await(want string, within time.Duration) (string, error) {
	consumed, _, err := o.await(within, fmt.Sprintf("%q", want), func(rest string) (string, int) {
		return want, strings.Index(rest, want)
	})
	return consumed, err
}

// AwaitAny waits until one of wants appears in the output not yet
// consumed, consumes up to the first that does and returns which it was.
func (o *Output) AwaitAny(wants []string, within time.Duration) (string, error) {
	_, which, err := o.await(within, fmt.Sprintf("any of %q", wants), func(rest string) (string, int) {
		best, at := "", -1
		for _, w := range wants {
			if i := strings.Index(rest, w); i >= 0 && (at < 0 || i < at) {
				best, at = w, i
			}
		}
		return best, at
	})
	return which, err
}

// await is Await and AwaitAny: find returns the match in rest and where
// it starts (-1: none yet).
func (o *Output) await(within time.Duration, what string, find func(rest string) (string, int)) (consumed, match string, err error) {
	timeout := time.After(within)
	ended := false
	for {
		o.mu.Lock()
		rest := string(o.buf[o.seen:])
		if m, at := find(rest); at >= 0 {
			o.seen += at + len(m)
			o.mu.Unlock()
			return rest[:at+len(m)], m, nil
		}
		o.mu.Unlock()
		if ended {
			return "", "", fmt.Errorf("connection closed before %s arrived; unread output:\n%q", what, rest)
		}
		select {
		case <-o.update:
		case <-o.closed:
			// The last bytes may have arrived with the close: look once
			// more.
			ended = true
		case <-timeout:
			return "", "", fmt.Errorf("%s did not arrive within %v; unread output:\n%q", what, within, rest)
		}
	}
}

// All is everything received so far, consumed or not.
func (o *Output) All() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf)
}

// Mark is the current end of the output, for Since.
func (o *Output) Mark() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.buf)
}

// Since is everything received after mark.
func (o *Output) Since(mark int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf[mark:])
}
