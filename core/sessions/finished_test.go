package sessions

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
)

// finishLog records which inputs DataInThen said were finished, in order.
type finishLog struct {
	mu   sync.Mutex
	done []string
	ch   chan string
}

func newFinishLog() *finishLog { return &finishLog{ch: make(chan string, 64)} }

func (f *finishLog) cb(name string) func() {
	return func() {
		f.mu.Lock()
		f.done = append(f.done, name)
		f.mu.Unlock()
		f.ch <- name
	}
}

func (f *finishLog) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.done)
}

func (f *finishLog) await(t *testing.T, name string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case got := <-f.ch:
			if got == name {
				return
			}
		case <-deadline:
			t.Fatalf("input %q never finished; finished: %v", name, f.list())
		}
	}
}

// TestDataInThenFinished: input is finished when it has run and the async
// work its session then waited on has come back: at once for a plain
// command; after the password check for one that starts it, and the input
// held meanwhile only after it has run in turn; at once for a session that
// does not exist; and when its session leaves, for input it still held.
func TestDataInThenFinished(t *testing.T) {
	x := newHarness(t)
	release := make(chan string)
	slowInputfunc(x, release)
	x.start()
	f := newFinishLog()
	x.call(func() {
		x.connect("telnet", 1)
		x.h.DataInThen("telnet", 1, []contract.Message{echoMsg("plain")}, f.cb("plain"))
		x.h.DataInThen("telnet", 99, []contract.Message{echoMsg("nobody")}, f.cb("nobody"))
		x.h.DataInThen("other", 1, []contract.Message{echoMsg("foreign")}, f.cb("foreign"))
	})
	if got := f.list(); !slices.Equal(got, []string{"plain", "nobody", "foreign"}) {
		t.Fatalf("finished %v, want plain, nobody and foreign at once", got)
	}

	x.call(func() {
		x.h.DataInThen("telnet", 1, []contract.Message{{Name: "slow", Args: []any{"1"}}, echoMsg("a")}, f.cb("slow"))
		x.h.DataInThen("telnet", 1, []contract.Message{echoMsg("b")}, f.cb("held"))
	})
	if got := f.list(); len(got) != 3 {
		t.Fatalf("finished %v while the password check runs", got)
	}
	release <- "go"
	f.await(t, "held")
	if got := f.list(); !slices.Equal(got[3:], []string{"slow", "held"}) {
		t.Errorf("finished %v, want slow then held", got[3:])
	}

	// A session that leaves while it holds input: everything it held or
	// waited for is finished (it will never run).
	x.call(func() {
		x.h.DataInThen("telnet", 1, []contract.Message{{Name: "slow", Args: []any{"2"}}}, f.cb("slow2"))
		x.h.DataInThen("telnet", 1, []contract.Message{echoMsg("c")}, f.cb("held2"))
		x.h.PortalDisconnect("telnet", 1, "gone")
	})
	if got := f.list(); !slices.Equal(got[5:], []string{"slow2", "held2"}) {
		t.Errorf("finished %v when the session left, want slow2 and held2", got[5:])
	}
	release <- "go" // the orphaned check ends; nothing finishes twice
	x.h.WaitAsync()
	if got := f.list(); len(got) != 7 {
		t.Errorf("finished %v: some input finished twice", got)
	}
}

// TestDataInThenAfterLoginSaved: a command that logs its player in is
// finished only once the login's row is durable in the store, so that an
// acknowledgement never precedes what the host would need after a crash.
func TestDataInThenAfterLoginSaved(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	x.h.RegisterInputfunc("login", Inputfunc{Func: func(h *ServerSessionHandler, s *ServerSession, _ []any, _ map[string]any) {
		h.Login(s, acc, false)
	}})
	x.start()
	saved := make(chan bool, 1)
	x.call(func() {
		x.connect("telnet", 1)
		x.h.DataInThen("telnet", 1, []contract.Message{{Name: "login"}}, func() {
			rows, err := x.st.SessionLogins(context.Background(), "telnet")
			saved <- err == nil && rows[1].UID == acc.ID
		})
	})
	select {
	case ok := <-saved:
		if !ok {
			t.Error("the login was finished before its row was saved")
		}
	case <-time.After(waitLimit):
		t.Fatal("the login never finished")
	}
}
