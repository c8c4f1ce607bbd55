package sessions

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
)

// TestExecSharesOwnership: several plugin link readers run their input
// with Exec while the loop runs timer work, async continuations (login
// rows) and console Calls, all touching the same sessions; -race checks
// that they never touch handler state at the same time, and the counts
// that nothing was lost or run twice.
func TestExecSharesOwnership(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	x.h.SetSettings(Settings{ServerName: "T", MultisessionMode: 1})
	x.start()

	// Loop timers: a ticker posting work that reads and writes every
	// session, as a game's timer would (h.post is how timers reach the
	// loop).
	stopTimers := make(chan struct{})
	var timersDone sync.WaitGroup
	timersDone.Add(1)
	go func() {
		defer timersDone.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopTimers:
				return
			case <-tick.C:
				x.h.post(func() {
					for _, s := range x.h.Sessions() {
						s.CmdTotal++
					}
					x.h.ValidateSessions()
				})
			}
		}
	}()

	const readers, perReader = 4, 40
	var wg sync.WaitGroup
	for r := range readers {
		wg.Add(2)
		plugin := fmt.Sprintf("plugin%d", r)
		go func() { // the plugin's link reader
			defer wg.Done()
			for i := range perReader {
				id := uint64(r*perReader + i + 1)
				d := sessData(id, plugin)
				login := i%5 == 0
				ok := x.h.Exec(func() {
					x.h.PortalConnect(plugin, d)
					if login {
						x.h.Login(x.h.SessionFromSessid(id), acc, false)
					}
				})
				ok = ok && x.h.Exec(func() {
					x.h.DataIn(plugin, id, []contract.Message{contract.Text("hello"), echoMsg("e")})
				})
				if i%2 == 1 && !login {
					ok = ok && x.h.Exec(func() { x.h.PortalDisconnect(plugin, id, "bye") })
				}
				if !ok {
					t.Error("Exec refused while the loop runs")
					return
				}
			}
		}()
		go func() { // the console, asking while the readers run
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			for range perReader {
				var n int
				if err := x.h.Call(ctx, func() { n = x.h.Count() + x.h.AccountCount() }); err != nil {
					t.Error(err)
					return
				}
				if n > 1+readers*perReader {
					t.Errorf("Count+AccountCount = %d, more than were connected", n)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stopTimers)
	timersDone.Wait()
	x.h.WaitAsync()

	checkChurn(t, x, readers, perReader)
}

// checkChurn checks what workers×perWorker sessions left, each connected,
// sent "hello", and — every fifth — logged in as the one account or —
// every other one of the rest — disconnected: the sessions and the account
// online, and every "hello" run once.
func checkChurn(t *testing.T, x *harness, workers, perWorker int) {
	t.Helper()
	var count, accounts int
	x.call(func() { count, accounts = x.h.Count(), x.h.AccountCount() })
	wantCount := 0
	for i := range perWorker {
		if i%2 == 0 || i%5 == 0 {
			wantCount += workers
		}
	}
	if count != wantCount || accounts != 1 {
		t.Errorf("Count %d AccountCount %d, want %d and 1", count, accounts, wantCount)
	}
	hellos := 0
	for _, l := range x.cmds.Lines() {
		if l.Line == "hello" {
			hellos++
		}
	}
	if hellos != workers*perWorker {
		t.Errorf("text inputs run = %d, want %d", hellos, workers*perWorker)
	}
}

// TestExecAfterStop: once Run has returned, Exec refuses at once, without
// running game code (nothing would carry out what it starts) and without
// blocking; readers that were running batches when the loop stopped end.
func TestExecAfterStop(t *testing.T) {
	x := newHarness(t)
	var runs, late atomic.Int64
	var stopped atomic.Bool
	warm := make(chan struct{})
	x.h.RegisterInputfunc("probe", Inputfunc{Func: func(*ServerSessionHandler, *ServerSession, []any, map[string]any) {
		if runs.Add(1) == 10 {
			close(warm)
		}
		if stopped.Load() {
			late.Add(1)
		}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); x.h.Run(ctx); stopped.Store(true) }()
	if !x.h.Exec(func() { x.connect("telnet", 1) }) {
		t.Fatal("Exec refused while the loop runs")
	}
	probe := []contract.Message{{Name: "probe"}}
	// Readers keep running batches while the loop stops; each must see a
	// refusal and end.
	var readers sync.WaitGroup
	for range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for x.h.Exec(func() { x.h.DataIn("telnet", 1, probe) }) {
			}
		}()
	}
	select {
	case <-warm:
	case <-time.After(waitLimit):
		t.Fatal("the readers ran no batches")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("Run did not return")
	}
	endedReaders := make(chan struct{})
	go func() { readers.Wait(); close(endedReaders) }()
	select {
	case <-endedReaders:
	case <-time.After(waitLimit):
		t.Fatal("a reader kept running batches after the loop stopped")
	}
	before := runs.Load()
	result := make(chan bool, 1)
	go func() { result <- x.h.Exec(func() { x.h.DataIn("telnet", 1, probe) }) }()
	select {
	case ok := <-result:
		if ok {
			t.Error("Exec ran after Run returned")
		}
	case <-time.After(waitLimit):
		t.Fatal("Exec after stop blocked")
	}
	if runs.Load() != before || late.Load() != 0 {
		t.Errorf("game code ran after Run returned: %d runs after, %d late", runs.Load()-before, late.Load())
	}
}
