package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// openSessions connects n clients to s, at most conc at a time; on Portico
// each one logs in to the bench account.
func openSessions(s server, n, conc int) ([]*client, error) {
	clients := make([]*client, n)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	sem := make(chan struct{}, conc)
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dial(s.addr(), s.telnet())
			if err == nil {
				if s.telnet() {
					err = login(c)
				} else {
					// One round trip: the server has registered the
					// connection (a broadcast must reach it).
					err = roundTrip(c, "hello")
				}
			}
			if err != nil {
				firstErr.CompareAndSwap(nil, fmt.Errorf("session %d: %w", i, err))
				if c != nil {
					c.close()
				}
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		closeAll(clients)
		return nil, err
	}
	return clients, nil
}

func login(c *client) error {
	if err := c.until("Welcome to", 60*time.Second); err != nil {
		return err
	}
	if err := c.send("connect " + benchAccount + " " + benchPassword); err != nil {
		return err
	}
	return c.until("Players here:", 60*time.Second)
}

func closeAll(cs []*client) {
	for _, c := range cs {
		if c != nil {
			c.close()
		}
	}
}

// roundTrip sends "ping <token>" and waits for the answer ending in it:
// the baseline echoes the line, Portico answers "pong <token>".
func roundTrip(c *client, token string) error {
	if err := c.send("ping " + token); err != nil {
		return err
	}
	return c.untilSuffix([]byte(" " + token))
}

// latencyResult holds round-trip percentiles.
type latencyResult struct{ p50, p99, p999 time.Duration }

func measureLatency(s server, n int) (latencyResult, error) {
	cs, err := openSessions(s, 1, 1)
	if err != nil {
		return latencyResult{}, err
	}
	defer closeAll(cs)
	c := cs[0]
	for i := 0; i < n/10+10; i++ { // warm up
		if err := roundTrip(c, "w"+strconv.Itoa(i)); err != nil {
			return latencyResult{}, err
		}
	}
	times := make([]time.Duration, n)
	for i := range times {
		t0 := time.Now()
		if err := roundTrip(c, strconv.Itoa(i)); err != nil {
			return latencyResult{}, err
		}
		times[i] = time.Since(t0)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	pct := func(p float64) time.Duration { return times[min(len(times)-1, int(float64(len(times))*p))] }
	return latencyResult{pct(0.50), pct(0.99), pct(0.999)}, nil
}

// throughputResult is answered lines per second, and the server's CPU
// time and context switches per line (all its processes and threads). With
// one session a line is one round trip.
type throughputResult struct {
	linesPerSec     float64
	cpuPerLine      time.Duration
	switchesPerLine float64
}

// measureThroughput runs sessions clients, each sending as fast as it is
// answered, for d.
func measureThroughput(s server, sessions int, d time.Duration) (throughputResult, error) {
	cs, err := openSessions(s, sessions, 100)
	if err != nil {
		return throughputResult{}, err
	}
	defer closeAll(cs)
	cpu0, err := serverCPU(s)
	if err != nil {
		return throughputResult{}, err
	}
	sw0, err := serverSwitches(s)
	if err != nil {
		return throughputResult{}, err
	}
	var total atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.conn.SetDeadline(deadline.Add(30 * time.Second))
			for n := 0; time.Now().Before(deadline); n++ {
				if err := roundTrip(c, strconv.Itoa(i)+"."+strconv.Itoa(n)); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				total.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return throughputResult{}, err
	}
	cpu1, err := serverCPU(s)
	if err != nil {
		return throughputResult{}, err
	}
	sw1, err := serverSwitches(s)
	if err != nil {
		return throughputResult{}, err
	}
	n := total.Load()
	res := throughputResult{linesPerSec: float64(n) / elapsed.Seconds()}
	if n > 0 {
		res.cpuPerLine = (cpu1 - cpu0) / time.Duration(n)
		res.switchesPerLine = float64(sw1-sw0) / float64(n)
	}
	return res, nil
}

// memory returns the summed RSS of s's processes.
func memory(s server) (int64, error) {
	pids, err := s.pids()
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, pid := range pids {
		r, err := rssBytes(pid)
		if err != nil {
			return 0, err
		}
		sum += r
	}
	return sum, nil
}

// hostMemory returns the RSS of s's first process: Portico's host, the
// baseline's only one.
func hostMemory(s server) (int64, error) {
	pids, err := s.pids()
	if err != nil {
		return 0, err
	}
	return rssBytes(pids[0])
}

// heapProfiles asks s's processes for a heap profile (SIGUSR1: see
// sdk/cpuprofile) and gives them a moment to write it.
func heapProfiles(s server) {
	pids, err := s.pids()
	if err != nil {
		return
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGUSR1)
	}
	time.Sleep(time.Second)
}

// keepHeapProfiles renames the heap profiles in dir (<name>.heap.pprof
// and .txt) to <name>.heap-<tag>.*, so that a later profile does not
// overwrite them.
func keepHeapProfiles(dir, tag string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.heap.*"))
	for _, f := range files {
		_ = os.Rename(f, strings.Replace(f, ".heap.", ".heap-"+tag+".", 1))
	}
}

// fanoutRounds is how many broadcasts one fan-out figure is the median
// of: a single broadcast to 10,000 on two cores moves by half with where
// the server and the 10,000 readers land.
const fanoutRounds = 5

// readersSettle is how long the readers of a broadcast are given to park
// in their reads before it is triggered.
const readersSettle = 100 * time.Millisecond

// fanoutResult is one fan-out figure: the median, fastest and slowest of
// fanoutRounds broadcasts, and the CPU each took on average, of the
// server's processes and of the bench's own readers (this process).
type fanoutResult struct {
	median, fastest, slowest time.Duration
	// first is the median time until the first reader had the broadcast:
	// its start, before the writes to clients.
	first                time.Duration
	serverCPU, clientCPU time.Duration
}

func (f fanoutResult) note() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("median of %d: %s–%s ms, first reader at %s", fanoutRounds, ms(f.fastest), ms(f.slowest), ms(f.first))
}

// measureFanouts times fanoutRounds broadcasts to every client, one after
// another, and reads the CPU they took.
func measureFanouts(s server, cs []*client, trigger func(token string) error) (fanoutResult, error) {
	var res fanoutResult
	server0, client0, err := serverAndBenchCPU(s)
	if err != nil {
		return res, err
	}
	times := make([]time.Duration, fanoutRounds)
	firsts := make([]time.Duration, fanoutRounds)
	for i := range times {
		if firsts[i], times[i], err = measureFanout(cs, trigger); err != nil {
			return res, err
		}
	}
	server1, client1, err := serverAndBenchCPU(s)
	if err != nil {
		return res, err
	}
	slices.Sort(times)
	res.median, res.fastest, res.slowest = times[len(times)/2], times[0], times[len(times)-1]
	slices.Sort(firsts)
	res.first = firsts[len(firsts)/2]
	res.serverCPU = (server1 - server0) / fanoutRounds
	res.clientCPU = (client1 - client0) / fanoutRounds
	return res, nil
}

// serverAndBenchCPU reads the CPU time s's processes and this one (the
// bench's clients) have used so far.
func serverAndBenchCPU(s server) (srv, bench time.Duration, err error) {
	if srv, err = serverCPU(s); err != nil {
		return 0, 0, err
	}
	bench, err = cpuTime(os.Getpid())
	return srv, bench, err
}

// measureFanout times one broadcast to every client, from the trigger
// until the first client and the last client had read it.
func measureFanout(cs []*client, trigger func(token string) error) (first, last time.Duration, err error) {
	token := fmt.Sprintf("fanout-%d", time.Now().UnixNano())
	var wg, started sync.WaitGroup
	var firstErr atomic.Value
	var firstAt atomic.Int64 // time.Since(start) of the first reader, +1
	var start time.Time
	triggered := make(chan struct{})
	for _, c := range cs {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			if err := c.until(token, 60*time.Second); err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			<-triggered // start is set
			firstAt.CompareAndSwap(0, int64(time.Since(start))+1)
		}()
	}
	// The readers are started and given time to park in their reads
	// before the trigger: starting 10,000 goroutines takes the bench tens
	// of milliseconds of both cores, and a broadcast timed through that
	// measured the bench's start as much as the server (Portico's trigger
	// crosses the host and the plugin, the bare server's one process).
	started.Wait()
	time.Sleep(readersSettle)
	start = time.Now()
	close(triggered)
	if err := trigger(token); err != nil {
		return 0, 0, err
	}
	wg.Wait()
	last = time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, err
	}
	return time.Duration(firstAt.Load() - 1), last, nil
}

// reloadResult is how a reload under load went.
type reloadResult struct {
	// elapsed runs from the command until every client has seen the
	// restart and answered a ping; told until every client has read
	// "Server restarted." (toldP50 until half of them had).
	elapsed, told, toldP50 time.Duration
	dropped                int
	// hostCPU and pluginCPU are the CPU time the host (both images) and
	// the plugin used from the command until every client had answered:
	// steadier than the times on a loaded machine.
	hostCPU, pluginCPU time.Duration
	// host is what the host logged of the reload.
	host hostReload
}

// measureReload reloads Portico under cs and waits until every session has
// seen the restart and answered a ping.
func measureReload(p *portico, cs []*client) (reloadResult, error) {
	var wg sync.WaitGroup
	var dropped atomic.Int64
	var firstErr atomic.Value
	told := make([]time.Duration, len(cs))
	// The host keeps its pid across the exec, the plugin is the same
	// process: both are read again at the end.
	pids, err := p.pids()
	if err != nil {
		return reloadResult{}, err
	}
	cpu0, err := cpuTimes(pids)
	if err != nil {
		return reloadResult{}, err
	}
	start := time.Now()
	if _, err := p.call("reload", nil); err != nil {
		return reloadResult{}, err
	}
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.until("Server restarted.", 120*time.Second)
			if err == nil {
				told[i] = time.Since(start)
				_ = c.conn.SetDeadline(time.Now().Add(120 * time.Second))
				err = roundTrip(c, "r"+strconv.Itoa(i))
				_ = c.conn.SetDeadline(time.Time{})
			}
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
					dropped.Add(1)
					return
				}
				firstErr.CompareAndSwap(nil, err)
			}
		}()
	}
	wg.Wait()
	res := reloadResult{elapsed: time.Since(start), dropped: int(dropped.Load())}
	if cpu1, err := cpuTimes(pids); err == nil && len(pids) >= 2 {
		res.hostCPU = cpu1[0] - cpu0[0]
		for i := 1; i < len(pids); i++ {
			res.pluginCPU += cpu1[i] - cpu0[i]
		}
	}
	sort.Slice(told, func(i, j int) bool { return told[i] < told[j] })
	if len(told) > 0 {
		res.told, res.toldP50 = told[len(told)-1], told[len(told)/2]
	}
	if err, _ := firstErr.Load().(error); err != nil {
		return res, err
	}
	// The new image logs "sessions restored" before it tells anyone.
	h, err := readHostReload(p.log.Name(), start)
	if err != nil && res.dropped == 0 {
		return res, err
	}
	res.host = h
	return res, nil
}

// cpuTimes reads the CPU time each of pids has used so far.
func cpuTimes(pids []int) ([]time.Duration, error) {
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		t, err := cpuTime(pid)
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// hostReload is what the host logged of one reload (core/host "re-executing"
// and "host restarted", core/plugins "sessions restored"): restored runs
// from the command to the new image's "sessions restored" line (the log's
// clock, to the millisecond); the rest are the phases it names.
type hostReload struct {
	restored time.Duration
	// handover is the old image's part until the exec: the announcement and
	// the plugins' pause (paused), every session's data pushed (synced),
	// the parts stopped and the links flushed (flushed).
	handover, paused, synced, flushed string
	// upAt is when the new image began to run, from the command.
	upAt time.Duration
	// restore is the new image's restore of the sessions: the plugin's
	// answer (asked), its decoding (decoded), the rebuild (rebuilt).
	restore, asked, decoded, rebuilt string
}

// note says where the host's part of a reload went, in milliseconds.
func (h hostReload) note() string {
	return fmt.Sprintf("handover %s (announce+pause %s, sync %s, flush %s); new image up at %d; restore %s (asked %s, decoded %s, rebuilt %s)",
		h.handover, h.paused, h.synced, h.flushed, h.upAt.Milliseconds(), h.restore, h.asked, h.decoded, h.rebuilt)
}

// readHostReload reads the host's log for the reload begun at start.
func readHostReload(path string, start time.Time) (hostReload, error) {
	var h hostReload
	b, err := os.ReadFile(path)
	if err != nil {
		return h, fmt.Errorf("host log: %w", err)
	}
	// The log's times are to the millisecond.
	since := start.Truncate(time.Millisecond)
	var restored, up bool
	for _, line := range strings.Split(string(b), "\n") {
		f := logFields(line)
		at, err := time.Parse(time.RFC3339Nano, f["time"])
		if err != nil || at.Before(since) {
			continue
		}
		switch f["msg"] {
		case "re-executing":
			h.handover, h.paused, h.synced, h.flushed = f["handover"], f["plugins_paused"], f["synced"], f["flushed"]
		case "host restarted":
			h.upAt, up = at.Sub(since), true
		case "sessions restored":
			h.restored, restored = at.Sub(since), true
			h.restore, h.asked, h.decoded, h.rebuilt = f["took"], f["asked"], f["decoded"], f["rebuilt"]
		}
	}
	if !restored || !up {
		return h, fmt.Errorf("no \"host restarted\" and \"sessions restored\" after the reload in %s", path)
	}
	return h, nil
}

// logFields splits a log/slog text line into its keys and values
// (unquoting quoted values).
func logFields(line string) map[string]string {
	f := map[string]string{}
	for line != "" {
		line = strings.TrimLeft(line, " ")
		k, rest, ok := strings.Cut(line, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				break
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		f[k] = v
		line = rest
	}
	return f
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
