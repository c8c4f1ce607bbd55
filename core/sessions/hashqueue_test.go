package sessions

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
)

// TestStopAsyncDropsQueued: a reload (StopAsync) does not wait for the
// hashing queue. The jobs that have not started are dropped unrun, their
// sessions told to try again and let go (held input runs; an SSH login
// that never had the connection screen gets it); StopAsync returns once
// the running jobs (at most hashWorkers) are done, and takes no more.
func TestStopAsyncDropsQueued(t *testing.T) {
	x := newHarness(t)
	x.account("Alice")
	x.start()
	gate := make(chan struct{})
	var ran atomic.Int32
	const queued = 40
	hashes := x.st.PasswordHashes()
	x.call(func() {
		for i := range hashWorkers {
			s := x.connectFrom(uint64(1+i), fmt.Sprintf("198.51.100.%d:4000", 1+i))
			x.h.Async(s, func() func() {
				<-gate
				ran.Add(1)
				return func() { s.Msg("checked") }
			})
		}
		for i := range queued {
			s := x.connectFrom(uint64(100+i), fmt.Sprintf("203.0.113.%d:4000", 1+i))
			if !x.h.Async(s, func() func() { ran.Add(1); return nil }) {
				t.Errorf("job of session %d refused", s.Sessid)
			}
		}
		// Input typed while the job waits is held, and runs once let go.
		x.h.DataIn("telnet", 100, []contract.Message{echoMsg("typed meanwhile")})
		// An SSH login with a password: a real check, queued before its
		// session ever saw the connection screen.
		d := sessData(200, "ssh")
		d.Address = "192.0.2.200:4000"
		x.h.PortalConnectWithCredentials("ssh", d, Credentials{Name: "Alice", Password: "secret"})
	})
	x.p.waitText(t, 200, MsgHashQueued)
	if got := x.cmds.LinesOf(200); len(got) != 0 {
		t.Fatalf("the queued SSH session ran %q before its check", got)
	}

	done := make(chan struct{})
	go func() { x.h.StopAsync(); close(done) }()
	for i := range queued {
		x.p.waitText(t, uint64(100+i), MsgServerRestarting)
	}
	x.p.waitText(t, 100, "Echo returns: ('typed meanwhile',), {}")
	evs := x.p.waitText(t, 200, MsgServerRestarting)
	if got := textsFor(t, evs, 200); !slices.Equal(got, []string{MsgHashQueued, MsgServerRestarting}) {
		t.Errorf("SSH session got %q", got)
	}
	var loggedIn bool
	x.call(func() { loggedIn = x.h.SessionFromSessid(200).LoggedIn })
	if got := x.cmds.LinesOf(200); !slices.Equal(got, []string{"look"}) || loggedIn {
		t.Errorf("dropped SSH session: commands %q (want the connection screen's look), logged in %v", got, loggedIn)
	}
	// The running jobs still hold their workers: StopAsync waits for them.
	select {
	case <-done:
		t.Fatal("StopAsync returned while jobs were running")
	case <-time.After(100 * time.Millisecond):
	}
	// Nothing more is taken.
	var accepted bool
	x.call(func() {
		accepted = x.h.Async(x.connectFrom(300, "192.0.2.30:4000"), func() func() { ran.Add(1); return nil })
	})
	if accepted {
		t.Error("a job was taken after StopAsync")
	}
	x.p.waitText(t, 300, MsgServerRestarting)

	start := time.Now()
	close(gate)
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("StopAsync did not return once the running jobs were done")
	}
	t.Logf("StopAsync returned %v after the %d running jobs were let go (%d queued dropped)", time.Since(start), hashWorkers, queued+1)
	evs = x.p.Events()
	for i := range hashWorkers {
		if got := textsFor(t, evs, uint64(1+i)); !slices.Equal(got, []string{"checked"}) {
			t.Errorf("running session %d got %q, want its continuation's", 1+i, got)
		}
	}
	if n := ran.Load(); n != hashWorkers {
		t.Errorf("%d jobs ran, want only the %d running", n, hashWorkers)
	}
	if n := x.st.PasswordHashes() - hashes; n != 0 {
		t.Errorf("%d passwords hashed for dropped jobs", n)
	}
}

// TestHashQueueFairBetweenAddresses: addresses that each have their
// connections_per_ip connections asking at once, enough of them to fill
// the queue were it shared, cannot keep a fresh address's login out of it
// (each network has at most hashQueuePerAddress jobs waiting; an IPv6 /64
// is one network), and the networks waiting are served in turn, so the
// fresh address's job runs before the flooders' backlog.
func TestHashQueueFairBetweenAddresses(t *testing.T) {
	x := newHarness(t)
	const perIP = 32 // limits.connections_per_ip's default
	settings := x.h.Settings()
	settings.Limits.ConnectionsPerIP = perIP
	x.h.SetSettings(settings)
	x.start()
	started := make(chan uint64, 4096)
	releases := map[uint64]chan struct{}{}
	job := func(id uint64) func() func() {
		r := make(chan struct{})
		releases[id] = r
		return func() func() {
			started <- id
			<-r
			return nil
		}
	}
	// Enough flooding networks that their connections overflow the queue.
	const flooders = hashQueueMax/perIP + 1
	first := func(k int) uint64 { return uint64(1000 + 100*k) }
	addr := func(k, i int) string {
		if k == 1 {
			// Addresses of one /64 are one network.
			return fmt.Sprintf("[2001:db8:1:2::%x]:4000", i+1)
		}
		return fmt.Sprintf("203.0.%d.%d:4000", 113+k/250, k%250+1)
	}
	const fresh = 1
	accepted := map[uint64]bool{}
	x.call(func() {
		// The first flooder holds both workers.
		for i := range hashWorkers {
			id := uint64(10 + i)
			x.h.Async(x.connectFrom(id, addr(0, 0)), job(id))
		}
		for k := range flooders {
			for i := range perIP {
				id := first(k) + uint64(i)
				accepted[id] = x.h.Async(x.connectFrom(id, addr(k, i)), job(id))
			}
		}
		accepted[fresh] = x.h.Async(x.connectFrom(fresh, "198.51.100.7:4000"), job(fresh))
	})
	evs := x.p.Events()
	if got := textsFor(t, evs, fresh); !accepted[fresh] || !slices.Equal(got, []string{MsgHashQueued}) {
		t.Errorf("the fresh address's job: accepted %v, told %q", accepted[fresh], got)
	}
	for k := range flooders {
		for i := range perIP {
			id := first(k) + uint64(i)
			want, wantText := i < hashQueuePerAddress, MsgHashQueued
			if !want {
				wantText = MsgServerBusy
			}
			if got := textsFor(t, evs, id); accepted[id] != want || !slices.Equal(got, []string{wantText}) {
				t.Errorf("flooder session %d (%s): accepted %v, told %q; want %v, %q", id, addr(k, i), accepted[id], got, want, wantText)
			}
		}
	}

	next := func() uint64 {
		t.Helper()
		select {
		case id := <-started:
			return id
		case <-time.After(waitLimit):
			t.Fatal("no job started")
			return 0
		}
	}
	let := func(id uint64) {
		close(releases[id])
		delete(releases, id)
	}
	// Let one worker go at a time, oldest running job first: each frees
	// one worker, which takes the next job, so the order is the queue's.
	running := []uint64{next(), next()}
	slices.Sort(running)
	var order []uint64
	for len(order) < flooders+1+hashWorkers {
		let(running[0])
		running = running[1:]
		id := next()
		order = append(order, id)
		running = append(running, id)
	}
	// Let every job left go.
	for id := range releases {
		let(id)
	}
	x.h.WaitAsync()
	// Each network in turn: every flooder's first job, the fresh one (the
	// last network to queue), then the flooders' second jobs.
	var want []uint64
	for k := range flooders {
		want = append(want, first(k))
	}
	want = append(want, fresh)
	for k := range hashWorkers {
		want = append(want, first(k)+1)
	}
	if !slices.Equal(order, want) {
		t.Errorf("jobs ran in the order %v, want %v (each network in turn)", order, want)
	}
}

// TestHashQueueNoShareWithoutPerAddressLimit: with connections_per_ip 0
// the operator counts nothing per address (every player may come through
// one proxy), and the hashing queue gives one address no smaller share:
// only the queue's own bound applies.
func TestHashQueueNoShareWithoutPerAddressLimit(t *testing.T) {
	x := newHarness(t)
	x.start()
	gate := make(chan struct{})
	defer close(gate)
	const n = hashWorkers + 3*hashQueuePerAddress
	x.call(func() {
		for i := range n {
			s := x.connectFrom(uint64(1+i), "192.0.2.1:4000")
			if !x.h.Async(s, func() func() { <-gate; return nil }) {
				t.Errorf("job %d from the one address refused", i+1)
			}
		}
	})
	evs := x.p.Events()
	for i := hashWorkers; i < n; i++ {
		if got := textsFor(t, evs, uint64(1+i)); !slices.Equal(got, []string{MsgHashQueued}) {
			t.Errorf("session %d told %q", 1+i, got)
		}
	}
}
