package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
)

const (
	// floodInterval paces each flooding worker: two workers an address
	// make 10 dials a second from each of the eight addresses (80 in
	// all), five times connection_rate, so every address's queue always
	// has someone waiting and clients hang up while queued — what broke
	// the old shared queue — while the test's own dialers stay a small
	// part of a core. (Unpaced, they made ~320 dials a second and starved
	// the host they measure on a loaded two-core machine.)
	floodInterval = 200 * time.Millisecond
	// hangUpBound is how long the plugin may keep a connection after its
	// client hung up (FIN) before the server closes its end too. It
	// takes milliseconds; the bound only has to stay under the seconds a
	// queued client is told to wait, which a plugin that did not notice
	// hang-ups would keep it for.
	hangUpBound = 5 * time.Second
	// screenWithin is the figure: a fresh address gets the
	// connection screen within a second during a flood.
	screenWithin = time.Second
)

// limitMessages are what the connection limits tell a client that must
// wait or is refused (sdk/limits.go).
var limitMessages = []string{"DoS protection is active", "You are queued to connect", "too busy", "Too many connections"}

// queuedFor reads the wait a queued client was told.
var queuedFor = regexp.MustCompile(`You are queued to connect in ([0-9.]+) seconds`)

// connFlood is eight addresses opening telnet connections at a steady
// pace: some stay, some hang up while queued. Every connection the flood
// gives up it hangs up as a client does (FIN) and then reads until the
// server closes its end too, so that the test sees the plugin let go of
// it: once every one has been seen closed, no attacker connection is
// left in any queue.
type connFlood struct {
	addr string
	stop chan struct{}
	wg   sync.WaitGroup
	// closers are the goroutines reading given-up connections to their
	// end; each ends within hangUpBound.
	closers sync.WaitGroup

	attempts, queued, hungUpQueued, admitted, refused atomic.Int64
	// queuedFrom counts the queued connections of each address.
	queuedFrom [8]atomic.Int64
	// hungUp counts the connections given up; keptOpen those the server
	// still held hangUpBound later; slowestClose is the longest the
	// server took to close one (nanoseconds).
	hungUp, keptOpen, slowestClose atomic.Int64
}

// hangUp hangs conn up the way a client does and, in a goroutine of
// f.closers, reads it until the server closes its end, noting how long
// that took. A queued client's hang-up reaches the plugin as the end of
// its stream (connio.Watch), so the server's close shows that the plugin
// has given its place up.
func (f *connFlood) hangUp(conn net.Conn) {
	f.hungUp.Add(1)
	f.closers.Add(1)
	go func() {
		defer f.closers.Done()
		defer conn.Close()
		start := time.Now()
		// An error here is a connection the server has already reset:
		// the read below ends at once.
		_ = conn.(*net.TCPConn).CloseWrite()
		_ = conn.SetReadDeadline(start.Add(hangUpBound))
		_, err := io.Copy(io.Discard, conn)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			f.keptOpen.Add(1)
		}
		took := int64(time.Since(start))
		for {
			old := f.slowestClose.Load()
			if took <= old || f.slowestClose.CompareAndSwap(old, took) {
				break
			}
		}
	}()
}

// floodWorker dials from its address once every floodInterval until
// stop. It keeps up to five connections open (a queued one stays queued,
// and is let in in time), giving up the oldest to make room, and hangs
// up every other connection that was told it is queued at once.
func (f *connFlood) floodWorker(addr int) {
	local := fmt.Sprintf("127.0.0.%d", 2+addr)
	defer f.wg.Done()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			f.hangUp(c)
		}
	}()
	// A Ticker drops the ticks a slow worker misses: on a busy machine
	// the flood only gets slower, never bursts to catch up.
	pace := time.NewTicker(floodInterval)
	defer pace.Stop()
	buf := make([]byte, 1024)
	for i := 0; ; i++ {
		select {
		case <-f.stop:
			return
		case <-pace.C:
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
			f.hangUp(conn)
			continue
		case strings.Contains(got, "You are queued to connect"):
			f.queued.Add(1)
			f.queuedFrom[addr].Add(1)
			if i%2 == 0 {
				f.hungUpQueued.Add(1)
				f.hangUp(conn)
				continue
			}
		default:
			f.admitted.Add(1)
		}
		held = append(held, conn)
		if len(held) > 5 {
			f.hangUp(held[0])
			held = held[1:]
		}
	}
}

// screenSample is one client's way to the connection screen.
type screenSample struct {
	from string
	// took runs from the completed TCP connect to the screen: what the
	// server took, not how long the test's own dial waited for a core.
	took time.Duration
	// told is the wait the client was told, 0 when it was not queued.
	told time.Duration
	c    *telnetClient
}

// toScreen connects from local and waits (bounded) for the connection
// screen. It fails the test if the client is refused or never gets the
// screen; whether it was queued is the caller's to judge.
func toScreen(t *testing.T, local, addr string) screenSample {
	t.Helper()
	c := dialFrom(t, local, addr)
	start := time.Now()
	if _, err := c.Await("Welcome to TestGame", 15*time.Second); err != nil {
		t.Fatalf("a client from %s never got the connection screen: %v", local, err)
	}
	s := screenSample{from: local, took: time.Since(start), c: c}
	out := c.Since(0)
	for _, m := range []string{"too busy", "Too many connections"} {
		if strings.Contains(out, m) {
			t.Fatalf("a client from %s was refused: %q", local, out)
		}
	}
	if m := queuedFor.FindStringSubmatch(out); m != nil {
		secs, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatalf("queued message %q: %v", m[0], err)
		}
		s.told = time.Duration(secs * float64(time.Second))
	}
	return s
}

// medianTook is the median of the samples' times to the screen.
func medianTook(samples []screenSample) time.Duration {
	d := make([]time.Duration, len(samples))
	for i, s := range samples {
		d[i] = s.took
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// TestConnectionFloodFreshAddress: eight addresses flood the telnet plugin
// with connections, some hanging up while queued; players from fresh
// addresses get the connection screen unqueued and unrefused, typically
// (the median of five) within a second, and can log in. Once the
// attackers leave — every connection they gave up seen closed by the
// server within hangUpBound, so none is left in a queue — a client from
// each of their addresses gets in with no wait but a token's refill, and
// no session of theirs is left.
//
// What cannot flake is checked hard: a fresh address is never queued or
// refused (before per-address queues every address shared one queue the
// flood kept a minute long, so every fresh client was queued or refused),
// and an attacker's hung-up connection is closed by the plugin within
// seconds (before hang-ups were noticed, it kept its place until its
// turn, up to connection_queue_wait). The one-second figure is a median
// over several clients, timed from their completed TCP connect: on a
// loaded two-core machine one sample can lose hundreds of milliseconds
// to scheduling, but a median over a second means the server is slow,
// and the best of several would hide a server that usually is.
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
			f.closers.Wait()
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
		time.Sleep(100 * time.Millisecond) // polling the workers' counts: no event to wait on
	}

	// Fresh addresses, mid-flood: none is queued or refused, ever.
	var fresh []screenSample
	for i := range 5 {
		s := toScreen(t, fmt.Sprintf("127.0.0.%d", 10+i), h.telnetAddr)
		out := s.c.Since(0)
		for _, m := range limitMessages {
			if strings.Contains(out, m) {
				t.Fatalf("a client from the fresh address %s was told %q during the flood (%d attempts, %d queued): %q",
					s.from, m, f.attempts.Load(), f.queued.Load(), out)
			}
		}
		fresh = append(fresh, s)
	}
	player := fresh[0].c
	for _, s := range fresh[1:] {
		s.c.conn.Close()
	}
	player.send("create Tova tovapassword")
	player.expect("A new account 'Tova' was created.")
	player.send("connect Tova tovapassword")
	player.expect("You become Tova.")
	if med := medianTook(fresh); med >= screenWithin {
		t.Fatalf("fresh addresses got the connection screen in %v (median %v), want under %v during a flood of %d connections",
			tookList(fresh), med, screenWithin, f.attempts.Load())
	}

	stopFlood()
	t.Logf("flood: %d connections from eight addresses (%d admitted, %d queued of which %d hung up while queued, %d refused); "+
		"fresh addresses got the connection screen in %v (median %v)",
		f.attempts.Load(), f.admitted.Load(), f.queued.Load(), f.hungUpQueued.Load(), f.refused.Load(),
		tookList(fresh), medianTook(fresh))

	// The attackers have gone, and the server has closed every connection
	// they gave up, queued ones included: no queue holds any of them.
	if n := f.keptOpen.Load(); n > 0 {
		t.Fatalf("%d of the %d connections the attackers hung up were still open %v later: a client that leaves "+
			"while queued must give its place up at once", n, f.hungUp.Load(), hangUpBound)
	}
	t.Logf("the server closed each of the %d connections the attackers hung up within %v",
		f.hungUp.Load(), time.Duration(f.slowestClose.Load()).Round(time.Millisecond))

	// A client from each attacking address gets in: its queue is empty,
	// so at most it waits for its bucket's next token (half a second at
	// connection_rate 2). Before hang-ups were noticed, the clients that
	// had left kept their places, and it waited behind them until its
	// queue's cap refused it.
	var after []screenSample
	for n := range 8 {
		s := toScreen(t, fmt.Sprintf("127.0.0.%d", 2+n), h.telnetAddr)
		if s.told > 500*time.Millisecond {
			t.Fatalf("after the flood a client from %s was told to wait %v: %q", s.from, s.told, s.c.Since(0))
		}
		after = append(after, s)
	}
	if med := medianTook(after); med >= screenWithin {
		t.Fatalf("after the flood clients from the attacking addresses got the connection screen in %v (median %v), want under %v",
			tookList(after), med, screenWithin)
	}
	t.Logf("after the flood, clients from the eight attacking addresses got the connection screen in %v (median %v)",
		tookList(after), medianTook(after))
	// Nothing of the attackers is left: only the player's session and
	// those of the eight clients after the flood.
	h.waitFor("only the players' sessions", func(st host.Status) bool { return st.Sessions == 1+len(after) })
}

// tookList lists the samples' times, rounded, for messages.
func tookList(samples []screenSample) []time.Duration {
	out := make([]time.Duration, len(samples))
	for i, s := range samples {
		out[i] = s.took.Round(time.Millisecond)
	}
	return out
}
