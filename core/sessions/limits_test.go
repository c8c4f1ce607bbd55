package sessions

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

// connectFrom announces a new unlogged-in telnet session from address.
func (x *harness) connectFrom(id uint64, address string) *ServerSession {
	x.t.Helper()
	d := sessData(id, "telnet")
	d.Address = address
	x.h.PortalConnect("telnet", d)
	s := x.h.SessionFromSessid(id)
	if s == nil {
		x.t.Fatalf("session %d not created", id)
	}
	return s
}

// loginAnswer is what a login attempt got: "login" when the session was
// logged in, or the first text sent to it.
func (x *harness) loginAnswer(id uint64, name, password string) string {
	x.t.Helper()
	before := x.p.Events()
	texts, ins := len(textsFor(x.t, before, id)), countLogins(before, id)
	x.call(func() { x.h.LoginWithPassword(x.h.SessionFromSessid(id), name, password) })
	var got string
	x.p.waitFor(x.t, fmt.Sprintf("an answer to session %d's login as %s", id, name), func(evs []sentEvent) bool {
		if countLogins(evs, id) > ins {
			got = "login"
			return true
		}
		if ts := textsFor(x.t, evs, id); len(ts) > texts {
			got = ts[texts]
			return true
		}
		return false
	})
	return got
}

func countLogins(evs []sentEvent, id uint64) int {
	n := 0
	for _, l := range logins(evs) {
		if l.Sessid == id {
			n++
		}
	}
	return n
}

func (x *harness) setLimits(l contract.Limits) {
	x.t.Helper()
	x.call(func() { x.h.SetSettings(Settings{ServerName: "T", Limits: l}) })
}

// TestLoginFailuresPerAddressAndAccountAddress: wrong passwords from one
// address refuse that account from that address, and, past
// address_login_failures, every login from the address; the owner from an
// address that has not failed gets in; a success clears the account's
// count at that address only.
func TestLoginFailuresPerAddressAndAccountAddress(t *testing.T) {
	x := newHarness(t)
	x.account("Alice")
	x.account("Bob")
	x.start()
	x.setLimits(contract.Limits{LoginFailures: 3, LoginFailureWindow: 5 * time.Minute, AddressLoginFailures: 5,
		AccountLoginFailures: 50, AccountLoginFailureWindow: time.Hour})
	const attacker = "198.51.100.66"
	x.call(func() {
		x.connectFrom(1, attacker+":5001")
		x.connectFrom(2, attacker+":5002") // a second connection from the same address
		x.connectFrom(3, "203.0.113.5:6000")
		x.connectFrom(4, "203.0.113.6:6000")
		x.connectFrom(5, "192.0.2.200:7000")
		x.connectFrom(6, "192.0.2.200:7001")
	})
	for i := range 3 {
		if got := x.loginAnswer(uint64(1+i%2), "Alice", "wrong"); got != MsgBadLogin {
			t.Fatalf("wrong password %d = %q", i+1, got)
		}
	}
	hashes := x.st.PasswordHashes()
	// Alice is refused from the attacker's address, even with her password,
	// and without hashing.
	for _, id := range []uint64{1, 2} {
		if got := x.loginAnswer(id, "alice", "secret"); got != MsgLoginThrottled {
			t.Errorf("Alice from the attacker's address (session %d) = %q, want %q", id, got, MsgLoginThrottled)
		}
	}
	if n := x.st.PasswordHashes() - hashes; n != 0 {
		t.Errorf("throttled logins spent %d hashes", n)
	}
	// The owner, from an address that has not failed, gets in.
	if got := x.loginAnswer(3, "Alice", "secret"); got != "login" {
		t.Fatalf("the owner from a clean address = %q, want logged in", got)
	}

	// Two more failures (for Bob) make five from the address: every login
	// from it is refused now, for any name.
	for range 2 {
		if got := x.loginAnswer(2, "Bob", "wrong"); got != MsgBadLogin {
			t.Fatalf("Bob wrong = %q", got)
		}
	}
	for _, name := range []string{"Bob", "Nobody"} {
		if got := x.loginAnswer(1, name, "secret"); got != MsgLoginThrottled {
			t.Errorf("%s from an address past address_login_failures = %q, want %q", name, got, MsgLoginThrottled)
		}
	}
	if got := x.loginAnswer(4, "Bob", "secret"); got != "login" {
		t.Errorf("Bob from a clean address = %q, want logged in", got)
	}

	// A success clears Bob's failures at that address: two failures, a
	// success, then two more failures are still answered, not refused.
	x.call(func() { x.h.Disconnect(x.h.SessionFromSessid(4), "bye", false) })
	for _, step := range []struct {
		id       uint64
		password string
		want     string
	}{{5, "wrong", MsgBadLogin}, {5, "wrong", MsgBadLogin}, {5, "secret", "login"},
		{6, "wrong", MsgBadLogin}, {6, "wrong", MsgBadLogin}} {
		if got := x.loginAnswer(step.id, "Bob", step.password); got != step.want {
			t.Fatalf("Bob from 192.0.2.200 (session %d, %s) = %q, want %q", step.id, step.password, got, step.want)
		}
	}
}

// fakeTimers stands for time.AfterFunc: the test fires each timer.
type fakeTimers struct {
	mu      sync.Mutex
	timers  []*fakeTimer
	changed chan struct{}
}

type fakeTimer struct {
	d       time.Duration
	f       func()
	stopped bool
}

func newFakeTimers() *fakeTimers { return &fakeTimers{changed: make(chan struct{})} }

func (ft *fakeTimers) after(d time.Duration, f func()) func() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	tm := &fakeTimer{d: d, f: f}
	ft.timers = append(ft.timers, tm)
	close(ft.changed)
	ft.changed = make(chan struct{})
	return func() bool {
		ft.mu.Lock()
		defer ft.mu.Unlock()
		was := !tm.stopped
		tm.stopped = true
		return was
	}
}

// wait returns the n-th timer (from 1) once it was set.
func (ft *fakeTimers) wait(t *testing.T, n int) *fakeTimer {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		ft.mu.Lock()
		if len(ft.timers) >= n {
			tm := ft.timers[n-1]
			ft.mu.Unlock()
			return tm
		}
		changed := ft.changed
		ft.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("timer %d was never set", n)
		}
	}
}

func (ft *fakeTimers) count() int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return len(ft.timers)
}

// fire runs a timer as time.AfterFunc would, from its own goroutine's
// point of view (not the loop).
func (ft *fakeTimers) fire(tm *fakeTimer) {
	ft.mu.Lock()
	stopped := tm.stopped
	tm.stopped = true
	ft.mu.Unlock()
	if !stopped {
		tm.f()
	}
}

// TestAccountLoginCapDelays: past account_login_failures from all
// addresses together, each login to the account waits, longer each time,
// instead of being refused: the owner still gets in. The wait holds no
// worker and blocks nothing, and unknown names are delayed alike.
func TestAccountLoginCapDelays(t *testing.T) {
	x := newHarness(t)
	x.account("Alice")
	x.account("Bob")
	ft := newFakeTimers()
	x.h.afterFunc = ft.after
	x.start()
	x.setLimits(contract.Limits{AccountLoginFailures: 3, AccountLoginFailureWindow: time.Hour})
	for i := range 3 {
		id := uint64(1 + i)
		x.call(func() { x.connectFrom(id, fmt.Sprintf("198.51.100.%d:4000", id)) })
		if got := x.loginAnswer(id, "Alice", "wrong"); got != MsgBadLogin {
			t.Fatalf("failure %d = %q", i+1, got)
		}
	}
	if n := ft.count(); n != 0 {
		t.Fatalf("%d delays before the cap", n)
	}
	for k, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		id := uint64(10 + k)
		x.call(func() {
			x.connectFrom(id, fmt.Sprintf("198.51.100.%d:4000", id))
			x.h.LoginWithPassword(x.h.SessionFromSessid(id), "Alice", "wrong")
			// Input typed meanwhile waits behind the delayed login.
			x.h.DataIn("telnet", id, []contract.Message{echoMsg("typed meanwhile")})
		})
		tm := ft.wait(t, k+1)
		if tm.d != want {
			t.Errorf("delay %d = %v, want %v", k+1, tm.d, want)
		}
		if k == 0 {
			// The loop and the workers are free: Bob logs in meanwhile, no
			// worker is held, and waiting for async work (as a reload
			// does) does not wait for the delay.
			x.call(func() { x.connectFrom(50, "203.0.113.50:4000") })
			if got := x.loginAnswer(50, "Bob", "secret"); got != "login" {
				t.Fatalf("Bob during Alice's delay = %q", got)
			}
			var running int
			x.call(func() { running = x.h.asyncRunning })
			if running != 0 {
				t.Errorf("%d workers held during a delay", running)
			}
			done := make(chan struct{})
			go func() { x.h.WaitAsync(); close(done) }()
			select {
			case <-done:
			case <-time.After(waitLimit):
				t.Fatal("WaitAsync waited for a delayed login")
			}
		}
		if got := textsFor(t, x.p.Events(), id); len(got) != 0 {
			t.Fatalf("session %d answered before its delay: %q", id, got)
		}
		ft.fire(tm)
		evs := x.p.waitText(t, id, "Echo returns: ('typed meanwhile',), {}")
		if got := textsFor(t, evs, id); !slices.Equal(got, []string{MsgBadLogin, "Echo returns: ('typed meanwhile',), {}"}) {
			t.Errorf("session %d after its delay got %q", id, got)
		}
	}
	// The owner, from a clean address: delayed, not locked out.
	x.call(func() {
		x.connectFrom(60, "203.0.113.60:4000")
		x.h.LoginWithPassword(x.h.SessionFromSessid(60), "Alice", "secret")
	})
	tm := ft.wait(t, 4)
	if tm.d != 8*time.Second {
		t.Errorf("owner's delay = %v, want 8s", tm.d)
	}
	if n := countLogins(x.p.Events(), 60); n != 0 {
		t.Fatal("logged in before the delay")
	}
	ft.fire(tm)
	x.p.waitFor(t, "the owner's login", func(evs []sentEvent) bool { return countLogins(evs, 60) == 1 })

	// The delay grows to 30 s and no further; an unknown name is delayed
	// exactly as a real one.
	var alice, ghost time.Duration
	x.call(func() {
		s := x.h.SessionFromSessid(1)
		for range 10 {
			x.h.ThrottleHit(ThrottleLogin, s, "Alice")
		}
		for range 4 {
			x.h.ThrottleHit(ThrottleLogin, s, "Ghost")
		}
		alice, ghost = x.h.AccountLoginDelay("ALICE"), x.h.AccountLoginDelay("ghost")
	})
	if alice != 30*time.Second || ghost != 2*time.Second {
		t.Errorf("delays: Alice %v (want 30s), an unknown name %v (want 2s, as Alice's second past the cap)", alice, ghost)
	}

	// A session that leaves while delayed is not answered and its timer is
	// stopped.
	x.call(func() {
		x.connectFrom(70, "198.51.100.70:4000")
		x.h.LoginWithPassword(x.h.SessionFromSessid(70), "Alice", "wrong")
	})
	tm = ft.wait(t, 5)
	x.call(func() { x.h.PortalDisconnect("telnet", 70, "gone") })
	ft.mu.Lock()
	stopped := tm.stopped
	ft.mu.Unlock()
	if !stopped {
		t.Error("the delay of a session that left was not stopped")
	}
}

// TestHashPool: at most hashWorkers password operations run at once;
// hashQueueMax more wait and are told so; past that the session is told
// the server is busy, nothing runs for it and its input is not held.
func TestHashPool(t *testing.T) {
	x := newHarness(t)
	x.start()
	gate := make(chan struct{})
	var running, peak, ran atomic.Int32
	work := func() func() {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-gate
		running.Add(-1)
		ran.Add(1)
		return nil
	}
	const total = hashWorkers + hashQueueMax
	var refused bool
	x.call(func() {
		// One address each: the share of one address is another test's
		// (TestHashQueueFairBetweenAddresses).
		for i := range total {
			s := x.connectFrom(uint64(1+i), fmt.Sprintf("10.0.%d.%d:4000", i/250, i%250+1))
			if !x.h.Async(s, work) {
				t.Errorf("job %d refused", i+1)
			}
		}
		refused = !x.h.Async(x.connectFrom(5000, "10.1.0.1:4000"), work)
		x.h.DataIn("telnet", 5000, []contract.Message{echoMsg("not held")})
	})
	if !refused {
		t.Error("a job past the queue was accepted")
	}
	evs := x.p.waitText(t, 5000, "Echo returns: ('not held',), {}")
	if got := textsFor(t, evs, 5000); !slices.Equal(got, []string{MsgServerBusy, "Echo returns: ('not held',), {}"}) {
		t.Errorf("refused session got %q", got)
	}
	for i := range total {
		id := uint64(1 + i)
		got := textsFor(t, evs, id)
		if want := []string(nil); i >= hashWorkers {
			want = []string{MsgHashQueued}
			if !slices.Equal(got, want) {
				t.Errorf("session %d got %q, want %q", id, got, want)
			}
		} else if len(got) != 0 {
			t.Errorf("session %d (run at once) got %q", id, got)
		}
	}
	close(gate)
	x.h.WaitAsync()
	if p, n := peak.Load(), ran.Load(); p != hashWorkers || n != total {
		t.Errorf("peak %d at once (want %d), %d ran (want %d)", p, hashWorkers, n, total)
	}
}

// TestThrottlesKeptInStore: the counters are written to the store while
// the loop runs (a crash loses at most a second) and when it stops (a
// reload), read back by the next handler, and pruned once expired.
func TestThrottlesKeptInStore(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "portico.db"), store.Options{Argon2: store.Argon2Params{MemoryKiB: 64, Time: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	limits := contract.Limits{LoginFailures: 3, LoginFailureWindow: 5 * time.Minute, AddressLoginFailures: 20,
		AccountLoginFailures: 50, AccountLoginFailureWindow: time.Hour, CreateAttempts: 2, CreateAttemptWindow: 10 * time.Minute}
	now := time.Now()
	newHandler := func(at time.Time) (*ServerSessionHandler, *fakePortals) {
		p := newFakePortals()
		h := NewServerSessionHandler(Options{Log: slog.New(slog.DiscardHandler), Store: st, Portals: p, Commands: &fakeCommands{},
			Settings: Settings{ServerName: "T", Limits: limits}})
		h.now = func() time.Time { return at }
		return h, p
	}
	session := func(h *ServerSessionHandler, id uint64, address string) *ServerSession {
		d := sessData(id, "telnet")
		d.Address = address
		h.PortalConnect("telnet", d)
		return h.SessionFromSessid(id)
	}
	ctx := context.Background()

	h1, _ := newHandler(now)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); h1.Run(runCtx) }()
	callCtx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	if err := h1.Call(callCtx, func() {
		s := session(h1, 1, "198.51.100.1:4000")
		for range 3 {
			h1.ThrottleHit(ThrottleLogin, s, "Alice")
		}
		h1.ThrottleHit(ThrottleCreateAttempt, s, "")
		h1.ThrottleHit(ThrottleCreateAttempt, s, "")
	}); err != nil {
		t.Fatal(err)
	}
	// Saved while running, within a tick or two.
	deadline := time.Now().Add(waitLimit)
	for {
		entries, err := st.LoadThrottles(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 4 { // address, account at address, account, create attempts
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not saved while running: %+v", entries)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// One more after the last save is saved when the loop stops.
	if err := h1.Call(callCtx, func() { h1.ThrottleHit(ThrottleLogin, h1.SessionFromSessid(1), "Bob") }); err != nil {
		t.Fatal(err)
	}
	stop()
	<-done

	h2, _ := newHandler(now.Add(time.Minute))
	if err := h2.LoadThrottles(ctx); err != nil {
		t.Fatal(err)
	}
	s := session(h2, 1, "198.51.100.1:4001")
	other := session(h2, 2, "198.51.100.2:4000")
	if !h2.Throttled(ThrottleLogin, s, "alice") || !h2.Throttled(ThrottleCreateAttempt, s, "") {
		t.Error("the counters did not survive into the next handler")
	}
	if h2.Throttled(ThrottleLogin, other, "Alice") || h2.Throttled(ThrottleCreateAttempt, other, "") {
		t.Error("another address is throttled")
	}
	if got := h2.throttles.count(accountAddressKey(s, "bob"), now.Add(time.Minute), time.Hour); got != 1 {
		t.Errorf("the hit after the last periodic save: %d, want 1 (saved at stop)", got)
	}

	// Two hours on, everything has expired: nothing is loaded, and the
	// rows are gone.
	h3, _ := newHandler(now.Add(2 * time.Hour))
	if err := h3.LoadThrottles(ctx); err != nil {
		t.Fatal(err)
	}
	if len(h3.throttles.hits) != 0 {
		t.Errorf("expired counters loaded: %v", h3.throttles.hits)
	}
	if entries, err := st.LoadThrottles(ctx, now); err != nil || len(entries) != 0 {
		t.Errorf("expired rows not pruned: %+v %v", entries, err)
	}
}

func TestThrottleAddress(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7:4000":           "198.51.100.7",
		"[::ffff:198.51.100.7]:4000":  "198.51.100.7",
		"[2001:db8:1:2:3:4:5:6]:4000": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:4000": "2001:db8:1:2::/64",
		"not an address":              "not an address",
		"[2001:db8:1:3::1%eth0]:4000": "2001:db8:1:3::/64",
		"2001:db8:1:4::1":             "2001:db8:1:4::/64",
	} {
		if got := throttleAddress(in); got != want {
			t.Errorf("throttleAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestThrottleKeyMatches: `limits clear` by address clears that address's
// own counters and its per-account ones (an IPv6 address stands for its
// /64), by name the account's from every address and its count
// everywhere, and "" every counter.
func TestThrottleKeyMatches(t *testing.T) {
	keys := []string{"login|ip|192.0.2.1", "login|acctip|192.0.2.1|bob", "login|acctip|192.0.2.9|bob",
		"login-account|acct|bob", "create|ip|192.0.2.1", "create-attempt|ip|2001:db8::/64", "login|acctip|192.0.2.1|ann"}
	for target, want := range map[string][]string{
		"192.0.2.1":     {"login|ip|192.0.2.1", "login|acctip|192.0.2.1|bob", "create|ip|192.0.2.1", "login|acctip|192.0.2.1|ann"},
		"192.0.2.1:400": {"login|ip|192.0.2.1", "login|acctip|192.0.2.1|bob", "create|ip|192.0.2.1", "login|acctip|192.0.2.1|ann"},
		"2001:db8::42":  {"create-attempt|ip|2001:db8::/64"},
		"BOB":           {"login|acctip|192.0.2.1|bob", "login|acctip|192.0.2.9|bob", "login-account|acct|bob"},
		"":              keys,
		"nobody":        nil,
	} {
		var got []string
		for _, k := range keys {
			if ThrottleKeyMatches(k, target) {
				got = append(got, k)
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%q matches %q, want %q", target, got, want)
		}
	}
}
