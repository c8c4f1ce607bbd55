package main

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
)

// connFlood is eight addresses opening telnet connections as fast as the
// server lets them: some stay, some hang up while queued.
type connFlood struct {
	addr string
	stop chan struct{}
	wg   sync.WaitGroup

	attempts, queued, hungUpQueued, admitted, refused atomic.Int64
	// queuedFrom counts the queued connections of each address.
	queuedFrom [8]atomic.Int64
}

// floodWorker dials from local again and again until stop. It keeps up to
// five connections open (a queued one stays queued, and is let in in
// time), closing the oldest to make room, and hangs up every other
// connection that was told it is queued at once.
func (f *connFlood) floodWorker(addr int) {
	local := fmt.Sprintf("127.0.0.%d", 2+addr)
	defer f.wg.Done()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	buf := make([]byte, 1024)
	for i := 0; ; i++ {
		select {
		case <-f.stop:
			return
		case <-time.After(50 * time.Millisecond): // a flood, not a busy loop on two cores
		}
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		conn, err := d.Dial("tcp", f.addr)
		if err != nil {
			f.refused.Add(1)
			continue
		}
		f.attempts.Add(1)
		_ = conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
		n, _ := conn.Read(buf)
		_ = conn.SetReadDeadline(time.Time{})
		got := string(buf[:n])
		switch {
		case strings.Contains(got, "Too many connections"), strings.Contains(got, "too busy"):
			f.refused.Add(1)
			conn.Close()
			continue
		case strings.Contains(got, "You are queued to connect"):
			f.queued.Add(1)
			f.queuedFrom[addr].Add(1)
			if i%2 == 0 {
				f.hungUpQueued.Add(1)
				conn.Close()
				continue
			}
		default:
			f.admitted.Add(1)
		}
		held = append(held, conn)
		if len(held) > 5 {
			held[0].Close()
			held = held[1:]
		}
	}
}

// TestConnectionFloodFreshAddress: eight addresses flood the telnet plugin
// with connections, some hanging up while queued; a player from a ninth
// address gets the connection screen in under a second, unqueued, and
// can log in. Once the attackers leave, a client from one of their
// addresses gets in at once too, and no session of theirs is left.
func TestConnectionFloodFreshAddress(t *testing.T) {
	h := startHostWith(t, hostOptions{limits: `  connection_rate: 2
  connections_per_ip: 32
  connection_queue_wait: 10s
  account_creations: 0
`})
	f := &connFlood{addr: h.telnetAddr, stop: make(chan struct{})}
	for n := range 8 {
		for range 2 {
			f.wg.Add(1)
			go f.floodWorker(n)
		}
	}
	stopped := false
	stopFlood := func() {
		if !stopped {
			stopped = true
			close(f.stop)
			f.wg.Wait()
		}
	}
	defer stopFlood()

	// Two seconds at least, until every address has a queue and some of
	// its clients have hung up while queued.
	floodStart := time.Now()
	deadline := floodStart.Add(20 * time.Second)
	for {
		everyAddress := true
		for n := range f.queuedFrom {
			everyAddress = everyAddress && f.queuedFrom[n].Load() >= 4
		}
		if everyAddress && f.hungUpQueued.Load() >= 16 && time.Since(floodStart) >= 2*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the flood did not get going: %d attempts, %d queued, %d hung up while queued",
				f.attempts.Load(), f.queued.Load(), f.hungUpQueued.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The ninth address, mid-flood. (Before per-address queues, every
	// address shared one queue that the flood kept a minute long.)
	start := time.Now()
	player := dialFrom(t, "127.0.0.10", h.telnetAddr)
	if _, err := player.await("Welcome to TestGame", time.Second); err != nil {
		t.Fatalf("a player from a fresh address did not get the connection screen within a second of a flood "+
			"(%d attempts, %d queued): %v", f.attempts.Load(), f.queued.Load(), err)
	}
	took := time.Since(start)
	if out := player.since(0); strings.Contains(out, "queued") {
		t.Fatalf("the fresh address was queued: %q", out)
	}
	player.send("create Tova tovapassword")
	player.expect("A new account 'Tova' was created.")
	player.send("connect Tova tovapassword")
	player.expect("You become Tova.")

	stopFlood()
	t.Logf("flood: %d connections from eight addresses (%d admitted, %d queued of which %d hung up while queued, %d refused); "+
		"the ninth address got the connection screen in %v",
		f.attempts.Load(), f.admitted.Load(), f.queued.Load(), f.hungUpQueued.Load(), f.refused.Load(), took.Round(time.Millisecond))

	// The attackers are gone (the host holds only the player's session): a
	// client from one of their addresses gets in at once. Before hang-ups
	// were noticed, the clients that had left kept their places, and it
	// waited behind them until its queue's cap refused it.
	h.waitFor("the attackers' sessions gone", func(st host.Status) bool { return st.Sessions == 1 })
	start = time.Now()
	after := dialFrom(t, "127.0.0.2", h.telnetAddr)
	if _, err := after.await("Welcome to TestGame", time.Second); err != nil {
		t.Fatalf("after the flood a client from a flooding address did not get in within a second: %v", err)
	}
	t.Logf("after the flood, a client from 127.0.0.2 got the connection screen in %v", time.Since(start).Round(time.Millisecond))
	// Nothing of the attackers is left: only the two players' sessions.
	h.waitFor("only the two players' sessions", func(st host.Status) bool { return st.Sessions == 2 })
}
