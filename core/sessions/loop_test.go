package sessions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
)

func TestRunDoCallInOrder(t *testing.T) {
	x := newHarness(t)
	x.start()
	var order []int
	for i := range 100 {
		x.h.Do(func() { order = append(order, i) })
	}
	var got []int
	x.call(func() { got = slices.Clone(order) })
	if len(got) != 100 || !slices.IsSorted(got) {
		t.Errorf("Do ran %d jobs out of order: %v", len(got), got)
	}
}

func TestCallWithoutLoopEndsWithContext(t *testing.T) {
	x := newHarness(t) // no Run
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := x.h.Call(ctx, func() {}); !errors.Is(err, context.Canceled) {
		t.Errorf("Call = %v, want context.Canceled", err)
	}
}

func TestRunWaitsForAsyncWork(t *testing.T) {
	x := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); x.h.Run(ctx) }()

	gate := make(chan struct{})
	var thenRan bool
	ctxCall, cancelCall := context.WithTimeout(context.Background(), waitLimit)
	defer cancelCall()
	if err := x.h.Call(ctxCall, func() {
		s := x.connect("telnet", 1)
		x.h.Async(s, func() func() {
			<-gate
			return func() { thenRan = true }
		})
	}); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while async work was still running")
	default:
	}
	close(gate)
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after the async work finished")
	}
	if !thenRan { // Run has returned: reading is safe
		t.Error("Run returned before the async continuation ran")
	}
}

// slowInputfunc registers "slow": each call runs off the loop until a token
// arrives on release, then says "slow done <arg>".
func slowInputfunc(x *harness, release <-chan string) {
	x.h.RegisterInputfunc("slow", Inputfunc{Doc: "test", Func: func(h *ServerSessionHandler, s *ServerSession, args []any, _ map[string]any) {
		arg := fmt.Sprint(args...)
		h.Async(s, func() func() {
			<-release
			return func() { s.Msg("slow done " + arg) }
		})
	}})
}

func echoMsg(text string) contract.Message { return contract.Message{Name: "echo", Args: []any{text}} }

func TestAsyncHoldsLaterInputInOrder(t *testing.T) {
	x := newHarness(t)
	release := make(chan string)
	slowInputfunc(x, release)
	x.start()
	x.call(func() {
		x.connect("telnet", 1)
		x.h.DataIn("telnet", 1, []contract.Message{{Name: "slow", Args: []any{"1"}}, echoMsg("a")})
		x.h.DataIn("telnet", 1, []contract.Message{echoMsg("b")})
		x.h.DataIn("telnet", 1, []contract.Message{echoMsg("c"), echoMsg("d")})
	})
	var busy bool
	var held int
	x.call(func() {
		s := x.h.SessionFromSessid(1)
		busy, held = s.busy > 0, len(s.held)
	})
	if !busy || held != 3 {
		t.Errorf("while async: busy %v, %d batches held; want busy and 3", busy, held)
	}
	if got := textsFor(t, x.p.Events(), 1); len(got) != 0 {
		t.Fatalf("input ran while the session was busy: %q", got)
	}
	release <- "go"
	evs := x.p.waitText(t, 1, "Echo returns: ('d',), {}")
	want := []string{"slow done 1", "Echo returns: ('a',), {}", "Echo returns: ('b',), {}",
		"Echo returns: ('c',), {}", "Echo returns: ('d',), {}"}
	if got := textsFor(t, evs, 1); !slices.Equal(got, want) {
		t.Errorf("texts = %q, want %q", got, want)
	}
	x.call(func() {
		s := x.h.SessionFromSessid(1)
		busy, held = s.busy > 0, len(s.held)
	})
	if busy || held != 0 {
		t.Errorf("after async: busy %v, %d held", busy, held)
	}
}

// A held batch that itself starts async work must keep the rest of its
// messages ahead of input that arrived after it.
func TestAsyncHeldBatchKeepsOrder(t *testing.T) {
	x := newHarness(t)
	release := make(chan string)
	slowInputfunc(x, release)
	x.start()
	x.call(func() {
		x.connect("telnet", 1)
		x.h.DataIn("telnet", 1, []contract.Message{{Name: "slow", Args: []any{"1"}}})
		x.h.DataIn("telnet", 1, []contract.Message{{Name: "slow", Args: []any{"2"}}, echoMsg("x")})
		x.h.DataIn("telnet", 1, []contract.Message{echoMsg("y")})
	})
	release <- "first"
	x.p.waitText(t, 1, "slow done 1")
	release <- "second"
	evs := x.p.waitFor(t, "both echoes", func(evs []sentEvent) bool { return len(textsFor(t, evs, 1)) == 4 })
	want := []string{"slow done 1", "slow done 2", "Echo returns: ('x',), {}", "Echo returns: ('y',), {}"}
	if got := textsFor(t, evs, 1); !slices.Equal(got, want) {
		t.Errorf("texts = %q, want %q", got, want)
	}
}

func TestAsyncContinuationForDisconnectedSession(t *testing.T) {
	x := newHarness(t)
	release := make(chan string)
	slowInputfunc(x, release)
	x.start()
	x.call(func() {
		x.connect("telnet", 1)
		x.h.DataIn("telnet", 1, []contract.Message{{Name: "slow", Args: []any{"1"}}})
		x.h.DataIn("telnet", 1, []contract.Message{contract.Text("held")})
		x.h.PortalDisconnect("telnet", 1, "gone")
	})
	release <- "go"
	// Once the async goroutine is done its continuation is queued, so the
	// next Call runs after it.
	x.h.WaitAsync()
	x.call(func() {})
	if got := x.cmds.LinesOf(1); !slices.Equal(got, []string{"look"}) {
		t.Errorf("held input of a disconnected session ran: %q", got)
	}
	if got := textsFor(t, x.p.Events(), 1); len(got) != 0 {
		t.Errorf("a disconnected session was sent %q", got)
	}
}

// TestConcurrentLoop posts connects, input and disconnects from many
// goroutines while Run runs; -race checks that nothing is shared unsafely.
func TestConcurrentLoop(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	x.h.SetSettings(Settings{ServerName: "T", MultisessionMode: 1})
	x.start()

	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			plugin := fmt.Sprintf("plugin%d", w%3)
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			for i := range perWorker {
				id := uint64(w*perWorker + i + 1)
				d := sessData(id, plugin)
				login := i%5 == 0
				x.h.Do(func() {
					x.h.PortalConnect(plugin, d)
					if login {
						x.h.Login(x.h.SessionFromSessid(id), acc, false)
					}
				})
				x.h.Do(func() { x.h.DataIn(plugin, id, []contract.Message{contract.Text("hello"), echoMsg("e")}) })
				// Input waits until a login is saved: a session that left
				// meanwhile would lose it, so logged-in ones stay.
				if i%2 == 1 && !login {
					x.h.Do(func() { x.h.PortalDisconnect(plugin, id, "bye") })
				}
				var n int
				if err := x.h.Call(ctx, func() { n = x.h.Count() }); err != nil {
					t.Error(err)
					return
				}
				if n > workers*perWorker {
					t.Errorf("Count = %d, more than were connected", n)
					return
				}
			}
		}()
	}
	wg.Wait()
	x.h.WaitAsync()

	checkChurn(t, x, workers, perWorker)
	var announced []uint64
	x.call(func() {
		for _, s := range x.h.Sessions() {
			announced = append(announced, s.Sessid)
		}
		x.h.AnnounceAll("done")
	})
	x.p.waitFor(t, "the announcement to every session", func(evs []sentEvent) bool {
		n := 0
		for _, d := range dataOuts(t, evs) {
			if m := d.Msgs[0]; len(m.Args) == 1 && m.Args[0] == "done" {
				n += len(d.Sessids)
			}
		}
		return n == len(announced)
	})
}
