package sdk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// limitedPortal is a test portal whose host set the connection limits.
func limitedPortal(rate, perIP int, wait time.Duration) *Portal {
	return NewTestPortalWith(discardLog(),
		HostInfo{ServerName: "Testgame", Limits: Limits{ConnectionRate: rate, ConnectionsPerIP: perIP, ConnectionQueueWait: wait}})
}

// attempt is one NewSession in flight, started in a synctest bubble.
type attempt struct {
	conn   *fakeConn
	cancel context.CancelFunc
	start  time.Time
	// done receives the result once NewSession returns.
	done chan result
}

type result struct {
	s   *Session
	err error
	at  time.Time
}

func connectFrom(p *Portal, address string) *attempt {
	ctx, cancel := context.WithCancel(context.Background())
	a := &attempt{conn: newFakeConn(), cancel: cancel, start: time.Now(), done: make(chan result, 1)}
	go func() {
		s, err := p.NewSession(ctx, a.conn, "telnet", address)
		a.done <- result{s, err, time.Now()}
	}()
	return a
}

// result returns what NewSession returned; it must have returned (call
// after synctest.Wait has let it run).
func (a *attempt) result(t *testing.T) result {
	t.Helper()
	select {
	case r := <-a.done:
		return r
	default:
		t.Fatal("NewSession has not returned")
		return result{}
	}
}

func (a *attempt) pending() bool { return len(a.done) == 0 }

// told returns the texts sent to the attempt's conn so far.
func (a *attempt) told() []string {
	var out []string
	for {
		select {
		case c := <-a.conn.sends:
			for _, m := range c.msgs {
				s, _ := m.FirstString()
				out = append(out, s)
			}
		default:
			return out
		}
	}
}

func queuedFor(secs string) string {
	return "Testgame DoS protection is active. You are queued to connect in " + secs + " seconds ..."
}

// TestConnectionQueuePerAddress: past the rate, an address's clients
// queue behind each other, told how long, and go in as its bucket
// refills; a client from another address goes in at once, while they wait.
func TestConnectionQueuePerAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := limitedPortal(2, 0, 10*time.Second)
		var flood []*attempt
		for i := range 6 {
			flood = append(flood, connectFrom(p, fmt.Sprintf("192.0.2.7:%d", 4000+i)))
			synctest.Wait() // in order
		}
		// A burst of two goes in at once; the rest wait 0.5 s apart.
		for i, a := range flood[:2] {
			if r := a.result(t); r.err != nil || !r.at.Equal(a.start) {
				t.Fatalf("flood %d: %v after %v, want in at once", i, r.err, r.at.Sub(a.start))
			}
		}
		for i, a := range flood[2:] {
			want := queuedFor(fmt.Sprintf("%.1f", 0.5*float64(i+1)))
			if got := a.told(); len(got) != 1 || got[0] != want {
				t.Fatalf("flood %d was told %q, want %q", i+2, got, want)
			}
		}
		// A fresh address, while four wait: in at once, told nothing.
		fresh := connectFrom(p, "198.51.100.1:5000")
		synctest.Wait()
		if r := fresh.result(t); r.err != nil || !r.at.Equal(fresh.start) || len(fresh.told()) != 0 {
			t.Fatalf("fresh address: %v after %v, told %q; want in at once", r.err, r.at.Sub(fresh.start), fresh.told())
		}
		for i, a := range flood[2:] {
			r := <-a.done
			if want := time.Duration(i+1) * 500 * time.Millisecond; r.err != nil || r.at.Sub(a.start) != want {
				t.Fatalf("flood %d: %v after %v, want in after %v", i+2, r.err, r.at.Sub(a.start), want)
			}
		}
		if p.queued != 0 || p.Count() != 7 {
			t.Fatalf("%d still queued, %d sessions; want 0 and 7", p.queued, p.Count())
		}
	})
}

// TestConnectionQueueGroupsIPv6By64: addresses in one /64 share a queue
// and a connection count; the next /64 is another address.
func TestConnectionQueueGroupsIPv6By64(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := limitedPortal(1, 2, 10*time.Second)
		first := connectFrom(p, "[2001:db8:1:2::1]:4000")
		synctest.Wait()
		if r := first.result(t); r.err != nil {
			t.Fatal(r.err)
		}
		// Another address of the same /64 queues behind the first.
		hop := connectFrom(p, "[2001:db8:1:2:ffff::9]:4000")
		synctest.Wait()
		if !hop.pending() || len(hop.told()) != 1 {
			t.Fatal("a second address in the same /64 was not queued")
		}
		// A third is over connections_per_ip for the /64.
		over := connectFrom(p, "[2001:db8:1:2:1234::5]:4000")
		synctest.Wait()
		if r := over.result(t); !errors.Is(r.err, ErrRefused) || <-over.conn.closes != MsgTooManyConnections {
			t.Fatalf("third connection from the /64: %v, want refused as too many", r.err)
		}
		// The next /64 is another address: in at once.
		next := connectFrom(p, "[2001:db8:1:3::1]:4000")
		synctest.Wait()
		if r := next.result(t); r.err != nil || !r.at.Equal(next.start) {
			t.Fatalf("another /64: %v after %v, want in at once", r.err, r.at.Sub(next.start))
		}
		if r := <-hop.done; r.err != nil || r.at.Sub(hop.start) != time.Second {
			t.Fatalf("queued one: %v after %v, want in after 1s", r.err, r.at.Sub(hop.start))
		}
	})
}

// TestConnectionQueueHangUpGivesPlaceBack: a client that hangs up while
// queued (its context ends) leaves at once, with its session, its count
// against connections_per_ip and its place in the queue: the one behind
// it moves up, and the address can connect again.
func TestConnectionQueueHangUpGivesPlaceBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := limitedPortal(1, 3, 10*time.Second)
		var as []*attempt
		for i := range 3 {
			as = append(as, connectFrom(p, fmt.Sprintf("192.0.2.9:%d", 4000+i)))
			synctest.Wait()
		}
		if r := as[0].result(t); r.err != nil {
			t.Fatal(r.err)
		}
		if got := as[2].told(); len(got) != 1 || got[0] != queuedFor("2.0") {
			t.Fatalf("third was told %q", got)
		}
		// At its limit of three, the address is refused a fourth.
		fourth := connectFrom(p, "192.0.2.9:4100")
		synctest.Wait()
		if !errors.Is(fourth.result(t).err, ErrRefused) {
			t.Fatal("a fourth connection was not refused")
		}
		time.Sleep(300 * time.Millisecond)
		as[1].cancel() // the second hangs up
		synctest.Wait()
		r := as[1].result(t)
		if r.err == nil || errors.Is(r.err, ErrRefused) || !errors.Is(r.err, context.Canceled) {
			t.Fatalf("hung-up client: %v, want the context's end", r.err)
		}
		if !strings.Contains(r.err.Error(), "left the connection queue") {
			t.Fatalf("error %q does not say the client left the queue", r.err)
		}
		select {
		case reason := <-as[1].conn.closes:
			t.Fatalf("the SDK closed a hung-up client's Conn (%q): that is the plugin's", reason)
		default:
		}
		open := p.perIP.Count("192.0.2.9")
		p.mu.Lock()
		queued := p.queued
		p.mu.Unlock()
		if open != 2 || queued != 1 || p.Count() != 2 {
			t.Fatalf("after the hang-up: %d counted for the address, %d queued, %d sessions; want 2, 1, 2", open, queued, p.Count())
		}
		// Its slot is free again: a new connection is taken (and queued).
		again := connectFrom(p, "192.0.2.9:4200")
		synctest.Wait()
		if !again.pending() {
			t.Fatalf("new connection after the hang-up: %v", again.result(t).err)
		}
		// The third moves up: in after 1 s, not 2.
		if r := <-as[2].done; r.err != nil || r.at.Sub(as[2].start) != time.Second {
			t.Fatalf("the one behind: %v after %v, want in after 1s", r.err, r.at.Sub(as[2].start))
		}
		if r := <-again.done; r.err != nil || r.at.Sub(as[2].start) != 2*time.Second {
			t.Fatalf("the new one: %v at %v, want in at 2s", r.err, r.at.Sub(as[2].start))
		}
	})
}

// TestConnectionQueueHangUpAtItsTurn: a client let in just as it hung up
// gives its token back to the one behind it.
func TestConnectionQueueHangUpAtItsTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := limitedPortal(1, 0, 10*time.Second)
		q := p.queueLocked("192.0.2.5", time.Now(), 1)
		q.tokens = 0
		w1 := &queued{turn: make(chan struct{})}
		w2 := &queued{turn: make(chan struct{})}
		p.mu.Lock()
		q.waiters = append(q.waiters, w1, w2)
		p.queued = 2
		p.letInLocked(q)
		p.mu.Unlock()
		time.Sleep(time.Second)
		synctest.Wait()
		p.mu.Lock()
		if !w1.in || w2.in {
			p.mu.Unlock()
			t.Fatal("after 1s the first is not in, or the second is")
		}
		p.leaveLocked(q, w1) // it had hung up as its turn came
		in2 := w2.in
		p.mu.Unlock()
		if !in2 {
			t.Fatal("the token of a client that left at its turn did not go to the next")
		}
	})
}

// TestConnectionQueueWaitCap: a client whose wait would pass
// connection_queue_wait is refused with a message and closed; with 0 no
// client waits at all.
func TestConnectionQueueWaitCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := limitedPortal(1, 0, 2500*time.Millisecond)
		var as []*attempt
		for i := range 4 {
			as = append(as, connectFrom(p, fmt.Sprintf("192.0.2.3:%d", 4000+i)))
			synctest.Wait()
		}
		// In at once, after 1 s, after 2 s; the fourth (3 s) is refused.
		r := as[3].result(t)
		if !errors.Is(r.err, ErrRefused) || !r.at.Equal(as[3].start) {
			t.Fatalf("fourth: %v after %v, want refused at once", r.err, r.at.Sub(as[3].start))
		}
		if msg, _ := RefusalMessage(r.err); msg != msgServerBusy {
			t.Fatalf("refusal message %q", msg)
		}
		if reason := <-as[3].conn.closes; reason != msgServerBusy {
			t.Fatalf("closed with %q, want %q", reason, msgServerBusy)
		}
		if len(as[3].told()) != 0 {
			t.Fatal("a refused client was told it is queued")
		}
		for i, want := range []time.Duration{0, time.Second, 2 * time.Second} {
			if r := <-as[i].done; r.err != nil || r.at.Sub(as[i].start) != want {
				t.Fatalf("client %d: %v after %v, want %v", i, r.err, r.at.Sub(as[i].start), want)
			}
		}
		if p.Count() != 3 {
			t.Fatalf("%d sessions, want 3", p.Count())
		}

		// 0: no queue. A second client within the second is refused.
		p0 := limitedPortal(1, 0, 0)
		first := connectFrom(p0, "192.0.2.4:1")
		synctest.Wait()
		second := connectFrom(p0, "192.0.2.4:2")
		synctest.Wait()
		if first.result(t).err != nil || !errors.Is(second.result(t).err, ErrRefused) {
			t.Fatal("with connection_queue_wait 0, a client that would wait was not refused")
		}
	})
}

// TestConnectionQueueTotalBound: past the bound on waiting connections
// across all addresses, one that would wait is refused as too busy, while
// one from an address with no queue still goes in at once.
func TestConnectionQueueTotalBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := limitedPortal(1, 0, 10*time.Second)
		p.maxQueued = 3
		for i := range 3 {
			connectFrom(p, fmt.Sprintf("192.0.2.%d:1", i+1))
			synctest.Wait()
			connectFrom(p, fmt.Sprintf("192.0.2.%d:2", i+1))
			synctest.Wait()
		}
		over := connectFrom(p, "192.0.2.1:3")
		fresh := connectFrom(p, "203.0.113.1:1")
		synctest.Wait()
		if !errors.Is(over.result(t).err, ErrRefused) {
			t.Fatal("a fourth waiter past the bound of three was not refused")
		}
		if r := fresh.result(t); r.err != nil || !r.at.Equal(fresh.start) {
			t.Fatalf("fresh address past the bound: %v after %v, want in at once", r.err, r.at.Sub(fresh.start))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if p.queued != 0 {
			t.Fatalf("%d still queued", p.queued)
		}
	})
}

// TestConnectionQueueSessionClosedWhileQueued: a queued session closed by
// the host (DisconnectAll) stops waiting, and its Conn is closed once.
func TestConnectionQueueSessionClosedWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := limitedPortal(1, 0, 10*time.Second)
		connectFrom(p, "192.0.2.6:1")
		synctest.Wait()
		queued := connectFrom(p, "192.0.2.6:2")
		synctest.Wait()
		p.DisconnectAll("The server is shutting down.")
		synctest.Wait()
		r := queued.result(t)
		if !errors.Is(r.err, errClosedWhileQueued) || !r.at.Equal(queued.start) {
			t.Fatalf("%v after %v, want errClosedWhileQueued at once", r.err, r.at.Sub(queued.start))
		}
		if got := <-queued.conn.closes; got != "The server is shutting down." || len(queued.conn.closes) != 0 {
			t.Fatalf("closed with %q (and %d more)", got, len(queued.conn.closes))
		}
		if p.queued != 0 {
			t.Fatalf("%d still queued", p.queued)
		}
	})
}

// TestConnectionQueuesAreSwept: queues of addresses that stopped
// connecting do not pile up.
func TestConnectionQueuesAreSwept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := limitedPortal(2, 0, 10*time.Second)
		for i := range 10_000 {
			a := connectFrom(p, fmt.Sprintf("10.%d.%d.1:1", i/256, i%256))
			synctest.Wait()
			if r := a.result(t); r.err != nil {
				t.Fatal(r.err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// 100 addresses a second, each idle again within a second: the
		// map holds about a second's worth, not all 10,000.
		if n := len(p.queues); n > 4*minSweep+200 {
			t.Fatalf("%d queues kept for 10,000 addresses", n)
		}
	})
}

// TestTestPortalRateBelowOne: a test portal's rate may be under one a
// second (plugins' queue tests use one every 3 s): a client still goes in
// at once, the next from its address waits the whole interval, told so,
// and one from elsewhere goes in at once.
func TestTestPortalRateBelowOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewTestPortalWithRate(discardLog(),
			HostInfo{ServerName: "Testgame", Limits: Limits{ConnectionRate: 5, ConnectionQueueWait: 10 * time.Second}}, 1.0/3)
		first := connectFrom(p, "192.0.2.7:4000")
		synctest.Wait()
		if r := first.result(t); r.err != nil || !r.at.Equal(first.start) {
			t.Fatalf("first: %v after %v, want in at once", r.err, r.at.Sub(first.start))
		}
		second := connectFrom(p, "192.0.2.7:4001")
		synctest.Wait()
		if got := second.told(); len(got) != 1 || got[0] != queuedFor("3.0") {
			t.Fatalf("second was told %q, want %q", got, queuedFor("3.0"))
		}
		other := connectFrom(p, "198.51.100.1:5000")
		synctest.Wait()
		if r := other.result(t); r.err != nil || !r.at.Equal(other.start) {
			t.Fatalf("another address: %v after %v, want in at once", r.err, r.at.Sub(other.start))
		}
		if r := <-second.done; r.err != nil || r.at.Sub(second.start) != 3*time.Second {
			t.Fatalf("second: %v after %v, want in after 3s (not the host's 5 a second)", r.err, r.at.Sub(second.start))
		}
		// A third within 10 s queues for 3 s again: one every 3 s.
		third := connectFrom(p, "192.0.2.7:4002")
		synctest.Wait()
		if got := third.told(); len(got) != 1 || got[0] != queuedFor("3.0") {
			t.Fatalf("third was told %q, want %q", got, queuedFor("3.0"))
		}
		<-third.done
	})
}

// TestSessionMakesNoChannelUnlessQueued: a session that goes in at once
// holds no done channel (each of thousands of idle sessions would keep
// its 96 bytes, issue 16); one that waits gets it, and a session closed
// before its wait began finds it closed at once.
func TestSessionMakesNoChannelUnlessQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := limitedPortal(1, 0, 10*time.Second)
		first := connectFrom(p, "192.0.2.9:1")
		synctest.Wait()
		r := first.result(t)
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.s.done != nil {
			t.Error("a session that never waited made its done channel")
		}
		queued := connectFrom(p, "192.0.2.9:2")
		synctest.Wait()
		if !queued.pending() {
			t.Fatal("the second session from the address did not wait its turn")
		}
		p.DisconnectAll("bye")
		synctest.Wait()
		if r := queued.result(t); !errors.Is(r.err, errClosedWhileQueued) {
			t.Fatalf("queued session closed: %v, want errClosedWhileQueued", r.err)
		}
	})
	s := &Session{}
	s.markClosed()
	select {
	case <-s.closedSignal():
	default:
		t.Error("closedSignal of a closed session is not closed")
	}
}
