// Command bench measures Portico against a bare Go TCP line server on the
// same machine, in the same run, and prints each figure with its ratio to
// the baseline: round-trip latency, throughput, memory per idle session,
// broadcast fan-out and a reload under load. Absolute times on a shared
// machine are noise; the ratios are the result.
//
//	go run ./bench            # the full run recorded in BENCHMARKS.md
//	go run ./bench -short     # `make bench`: the same scenarios, smaller
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// only limits a run to some scenario groups (-only); empty runs all.
var only string

func wanted(group string) bool {
	if only == "" {
		return true
	}
	for _, g := range strings.Split(only, ",") {
		if strings.TrimSpace(g) == group {
			return true
		}
	}
	return false
}

// params size a run.
type params struct {
	latencyTrips    int
	throughputFor   time.Duration
	throughputSizes []int
	fanoutSmall     int
	capacity        int
	// settle is how long the idle sessions sit before their memory is
	// read: issue 16 defines idle memory 8 s after the connections open.
	settle time.Duration
}

var (
	full = params{latencyTrips: 10000, throughputFor: 10 * time.Second, throughputSizes: []int{1, 100, 1000},
		fanoutSmall: 1000, capacity: 10000, settle: 8 * time.Second}
	short = params{latencyTrips: 2000, throughputFor: 2 * time.Second, throughputSizes: []int{1, 100, 1000},
		fanoutSmall: 1000, capacity: 2000, settle: 8 * time.Second}
	tiny = params{latencyTrips: 50, throughputFor: 300 * time.Millisecond, throughputSizes: []int{1, 5},
		fanoutSmall: 5, capacity: 10, settle: time.Second}
)

// row is one line of the report.
type row struct {
	scenario, unit     string
	baseline, portico  float64
	hasBaseline        bool
	target             string
	lowerIsBetter      bool
	note               string
	portText, baseText string
}

func main() {
	serve := flag.Bool("baseline-server", false, "run the baseline server (internal)")
	isShort := flag.Bool("short", false, "a short run (make bench): under two minutes")
	isTiny := flag.Bool("tiny", false, "a tiny run that only checks the tool works")
	keep := flag.Bool("keep", false, "keep the work directory (logs, data)")
	flag.StringVar(&profileDir, "profile", "", "write CPU profiles of the host and plugin under this directory")
	flag.StringVar(&only, "only", "", "run only these scenario groups, comma-separated: latency, throughput, remote, capacity (capacity also runs fan-out and reload)")
	flag.Parse()
	if *serve {
		runBaselineServer()
		return
	}
	p := full
	switch {
	case *isTiny:
		p = tiny
	case *isShort:
		p = short
	}
	rows, err := run(p, *keep, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	printTable(os.Stdout, rows)
}

// raiseFileLimit lets this process and the servers it starts hold many
// connections.
func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func run(p params, keep bool, logw io.Writer) ([]row, error) {
	raiseFileLimit()
	dir, err := os.MkdirTemp("", "portico-bench")
	if err != nil {
		return nil, err
	}
	if keep {
		fmt.Fprintln(logw, "bench: work directory", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	logf("building portico")
	bin, err := buildPortico(dir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "bench: %d cores, %s, GOMAXPROCS %d\n", runtime.NumCPU(), runtime.Version(), runtime.GOMAXPROCS(0))
	var rows []row

	// Latency and throughput, against one pair of servers.
	base, err := startBaseline()
	if err != nil {
		return nil, err
	}
	defer base.close()
	port, err := startPortico(dir+"/a", bin)
	if err != nil {
		return nil, err
	}
	defer port.close()
	more, err := latencyAndThroughput("", base, port, p)
	if err != nil {
		return nil, err
	}
	rows = append(rows, more...)
	base.close()
	port.close()
	if wanted("remote") {
		more, err := remoteRows(dir, bin, p)
		if err != nil {
			return nil, err
		}
		rows = append(rows, more...)
	}
	if !wanted("capacity") {
		return rows, nil
	}

	warm, err := warmLoggedInRows(dir+"/c", bin, p)
	if err != nil {
		return nil, err
	}
	rows = append(rows, warm...)

	// Capacity and fan-out, one server at a time: a process here holds at
	// most about 20,000 files, so the clients of both cannot be open at once.
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	base2, err := startBaseline()
	if err != nil {
		return nil, err
	}
	defer base2.close()
	bcs := []*client{}
	defer func() { closeAll(bcs) }()
	bres, err := capacityAndFanout(base2, p, &bcs, func(token string) error { return bcs[0].send("BROADCAST " + token) })
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	closeAll(bcs)
	bcs = nil
	base2.close()

	port2, err := startPortico(dir+"/b", bin)
	if err != nil {
		return nil, err
	}
	defer port2.close()
	pcs := []*client{}
	defer func() { closeAll(pcs) }()
	pres, err := capacityAndFanout(port2, p, &pcs, func(token string) error {
		_, err := port2.call("announce", map[string]string{"text": token})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("portico: %w", err)
	}
	rows = append(rows, row{scenario: fmt.Sprintf("fan-out to %d", p.fanoutSmall), unit: "ms",
		baseline: ms(bres.fanoutSmall.median), portico: ms(pres.fanoutSmall.median), hasBaseline: true, lowerIsBetter: true,
		note: pres.fanoutSmall.note() + "; baseline " + bres.fanoutSmall.note()},
		row{scenario: fmt.Sprintf("memory per logged-in session (%d)", p.fanoutSmall), unit: "KiB",
			baseline: bres.smallPerSession, portico: pres.smallPerSession, hasBaseline: true, target: "≤ 8 KiB", lowerIsBetter: true,
			note: fmt.Sprintf("host %.2f, plugin %.2f KiB; portico RSS %.1f -> %.1f MiB", pres.smallHostPerSession,
				pres.smallPerSession-pres.smallHostPerSession, float64(pres.smallRSS0)/(1<<20), float64(pres.smallRSS)/(1<<20))})
	rows = append(rows, row{scenario: fmt.Sprintf("memory per idle session (%d)", p.capacity), unit: "KiB",
		baseline: bres.perSession, portico: pres.perSession, hasBaseline: true, target: "≤ 6 KiB", lowerIsBetter: true,
		note: fmt.Sprintf("portico host+plugin RSS %.1f MiB", float64(pres.rss)/(1<<20))},
		row{scenario: fmt.Sprintf("memory per idle session (%d): host", p.capacity), unit: "KiB", portico: pres.hostPerSession, lowerIsBetter: true,
			note: fmt.Sprintf("host RSS %.1f MiB", float64(pres.hostRSS)/(1<<20))},
		row{scenario: fmt.Sprintf("memory per idle session (%d): plugin", p.capacity), unit: "KiB", portico: pres.perSession - pres.hostPerSession,
			lowerIsBetter: true, note: fmt.Sprintf("plugin RSS %.1f MiB (%.1f MiB at 5 s)",
				float64(pres.rss-pres.hostRSS)/(1<<20), float64(pres.otherRSS5)/(1<<20))})
	if p.capacity > p.fanoutSmall {
		rows = append(rows, fanoutRows(p.capacity, bres.fanoutAll, pres.fanoutAll)...)
	}

	logf("reload: %d sessions", p.capacity)
	rr, err := measureReload(port2, pcs)
	if err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	rows = append(rows, row{scenario: fmt.Sprintf("reload, %d sessions: all answer", p.capacity), unit: "ms",
		portico: ms(rr.elapsed), target: "≤ 1000 ms, 0 dropped", lowerIsBetter: true,
		note: fmt.Sprintf("%d dropped; CPU meanwhile: host %.0f ms, plugin %.0f ms", rr.dropped, ms(rr.hostCPU), ms(rr.pluginCPU))},
		row{scenario: fmt.Sprintf("reload, %d sessions: all told restarted", p.capacity), unit: "ms",
			portico: ms(rr.told), lowerIsBetter: true, note: fmt.Sprintf("half of them by %.0f ms", ms(rr.toldP50))},
		row{scenario: fmt.Sprintf("reload, %d sessions: host side, command to sessions restored", p.capacity), unit: "ms",
			portico: ms(rr.host.restored), lowerIsBetter: true, note: rr.host.note()})
	if rr.dropped != 0 {
		why := ""
		if exited(port2.cmd.Process.Pid) {
			// What -profile did before the host stopped its profile
			// before the exec: the new image died at once.
			why = "; the host process has ended"
		}
		return rows, fmt.Errorf("reload dropped %d sessions%s (see %s)", rr.dropped, why, port2.log.Name())
	}
	return rows, nil
}

func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tunit\tbaseline\tportico\tratio\ttarget\tnote\t")
	for _, r := range rows {
		b, ratio := "—", "—"
		if r.hasBaseline {
			b = format(r.baseline)
			if r.baseline > 0 {
				ratio = fmt.Sprintf("%.2f×", r.portico/r.baseline)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.scenario, r.unit, b, format(r.portico), ratio, r.target, r.note)
	}
	tw.Flush()
}

func format(v float64) string {
	switch {
	case v >= 1000:
		return strings.TrimSuffix(fmt.Sprintf("%.0f", v), ".0")
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// warmLoggedInRows measures the memory per logged-in session once more,
// on a server past its first burst: fresh servers open a fifth of
// p.fanoutSmall sessions, close them and settle before the starting
// reading, then p.fanoutSmall sessions log in and settle as in the main
// measure. A fresh process pays once, in its first burst, for what no
// session keeps (code run for the first time, the runtime's collection
// metadata, SQLite's allocator): the main row counts it in the growth,
// this one counts what each session costs. Both servers are closed after.
func warmLoggedInRows(dir, bin string, p params) ([]row, error) {
	measure := func(s server) (all, host float64, err error) {
		logf("%s: logged-in memory past a first burst", s.name())
		warm, err := openSessions(s, max(1, p.fanoutSmall/5), 200)
		if err != nil {
			return 0, 0, err
		}
		closeAll(warm)
		time.Sleep(p.settle)
		mem0, host0, err := memories(s)
		if err != nil {
			return 0, 0, err
		}
		cs, err := openSessions(s, p.fanoutSmall, 200)
		if err != nil {
			return 0, 0, err
		}
		defer closeAll(cs)
		time.Sleep(p.settle)
		mem, hostMem, err := memories(s)
		if err != nil {
			return 0, 0, err
		}
		n := float64(p.fanoutSmall) * 1024
		return float64(mem-mem0) / n, float64(hostMem-host0) / n, nil
	}
	base, err := startBaseline()
	if err != nil {
		return nil, err
	}
	bAll, _, err := measure(base)
	base.close()
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	port, err := startPortico(dir, bin)
	if err != nil {
		return nil, err
	}
	pAll, pHost, err := measure(port)
	port.close()
	if err != nil {
		return nil, fmt.Errorf("portico: %w", err)
	}
	return []row{{scenario: fmt.Sprintf("memory per logged-in session (%d), past a first burst", p.fanoutSmall), unit: "KiB",
		baseline: bAll, portico: pAll, hasBaseline: true, target: "≤ 8 KiB", lowerIsBetter: true,
		note: fmt.Sprintf("host %.2f, plugin %.2f KiB", pHost, pAll-pHost)}}, nil
}

// fanoutRows are the rows of the fan-out to every session: its time, and
// the CPU the servers took for it (steadier than the time on two cores,
// where the bench's own readers compete with the server: their CPU is in
// the note).
func fanoutRows(n int, base, port fanoutResult) []row {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return []row{{scenario: fmt.Sprintf("fan-out to %d", n), unit: "ms",
		baseline: ms(base.median), portico: ms(port.median), hasBaseline: true, target: "≤ 1.1×", lowerIsBetter: true,
		note: port.note() + "; baseline " + base.note()},
		{scenario: fmt.Sprintf("fan-out to %d: server CPU per broadcast", n), unit: "ms",
			baseline: ms(base.serverCPU), portico: ms(port.serverCPU), hasBaseline: true, lowerIsBetter: true,
			note: fmt.Sprintf("the bench's readers: %.0f ms (portico), %.0f ms (baseline)", ms(port.clientCPU), ms(base.clientCPU))}}
}

// capacityResult is what capacityAndFanout measured on one server.
type capacityResult struct {
	fanoutSmall, fanoutAll fanoutResult
	perSession             float64 // KiB per idle session
	rss                    int64
	// smallPerSession and smallHostPerSession are the memory per session
	// with the first p.fanoutSmall sessions open (logged in on Portico),
	// read p.settle after they opened: in all and the host's share.
	smallPerSession, smallHostPerSession float64
	// smallRSS0 and smallRSS are the RSS of all the processes before the
	// sessions opened and at that reading.
	smallRSS0, smallRSS int64
	// hostPerSession and hostRSS are the share of the first process (the
	// host; the baseline's only one).
	hostPerSession float64
	hostRSS        int64
	// otherRSS5 is the RSS of the other processes (the plugin) 5 s after
	// the sessions opened.
	otherRSS5 int64
}

// memories returns the RSS of all of s's processes and of its first (the
// host; the baseline's only one).
func memories(s server) (all, host int64, err error) {
	if all, err = memory(s); err != nil {
		return 0, 0, err
	}
	host, err = hostMemory(s)
	return all, host, err
}

// capacityAndFanout opens p.fanoutSmall sessions and times a broadcast,
// opens the rest up to p.capacity, reads the memory per session and times
// a broadcast to all. The clients stay open in *cs.
func capacityAndFanout(s server, p params, cs *[]*client, trigger func(string) error) (capacityResult, error) {
	var res capacityResult
	mem0, host0, err := memories(s)
	if err != nil {
		return res, err
	}
	logf("%s: fan-out to %d", s.name(), p.fanoutSmall)
	first, err := openSessions(s, p.fanoutSmall, 200)
	if err != nil {
		return res, err
	}
	*cs = append(*cs, first...)
	// The memory per logged-in session, before the broadcast's garbage.
	time.Sleep(p.settle)
	memS, hostS, err := memories(s)
	if err != nil {
		return res, err
	}
	res.smallRSS0, res.smallRSS = mem0, memS
	res.smallPerSession = float64(memS-mem0) / float64(p.fanoutSmall) / 1024
	res.smallHostPerSession = float64(hostS-host0) / float64(p.fanoutSmall) / 1024
	if pt, ok := s.(*portico); ok && profileDir != "" {
		heapProfiles(s)
		keepHeapProfiles(filepath.Join(profileDir, filepath.Base(pt.dir)), "loggedin")
	}
	if res.fanoutSmall, err = measureFanouts(s, *cs, trigger); err != nil {
		return res, err
	}
	if more := p.capacity - p.fanoutSmall; more > 0 {
		logf("%s: %d idle sessions", s.name(), p.capacity)
		extra, err := openSessions(s, more, 200)
		if err != nil {
			return res, err
		}
		*cs = append(*cs, extra...)
	}
	// Let the server settle before reading its memory; read it on the
	// way too, at 5 s (by when memory a burst left must be back with the
	// OS, issue 16).
	early := min(5*time.Second, p.settle)
	time.Sleep(early)
	mem5, host5, err := memories(s)
	if err != nil {
		return res, err
	}
	res.otherRSS5 = mem5 - host5
	time.Sleep(p.settle - early)
	mem, host, err := memories(s)
	if err != nil {
		return res, err
	}
	if _, ok := s.(*portico); ok && profileDir != "" {
		heapProfiles(s)
	}
	res.rss, res.hostRSS = mem, host
	res.perSession = float64(mem-mem0) / float64(p.capacity) / 1024
	res.hostPerSession = float64(host-host0) / float64(p.capacity) / 1024
	if p.capacity > p.fanoutSmall {
		logf("%s: fan-out to %d", s.name(), p.capacity)
		if res.fanoutAll, err = measureFanouts(s, *cs, trigger); err != nil {
			return res, err
		}
	}
	return res, nil
}

// latencyAndThroughput measures round-trip latency and throughput on
// port against base (the groups -only asks for), and returns their rows,
// each scenario named with prefix.
func latencyAndThroughput(prefix string, base, port server, p params) ([]row, error) {
	var rows []row
	if wanted("latency") || prefix != "" {
		logf("%slatency: %d round trips each", prefix, p.latencyTrips)
		bl, err := measureLatency(base, p.latencyTrips)
		if err != nil {
			return nil, fmt.Errorf("baseline latency: %w", err)
		}
		pl, err := measureLatency(port, p.latencyTrips)
		if err != nil {
			return nil, fmt.Errorf("%sportico latency: %w", prefix, err)
		}
		us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
		rows = append(rows,
			row{scenario: prefix + "latency p50", unit: "µs", baseline: us(bl.p50), portico: us(pl.p50), hasBaseline: true, target: "≤ 2×", lowerIsBetter: true},
			row{scenario: prefix + "latency p99", unit: "µs", baseline: us(bl.p99), portico: us(pl.p99), hasBaseline: true, target: "≤ 3×", lowerIsBetter: true},
			row{scenario: prefix + "latency p999", unit: "µs", baseline: us(bl.p999), portico: us(pl.p999), hasBaseline: true, lowerIsBetter: true})
		if prefix != "" {
			// The targets are the local plugin's.
			for i := range rows {
				rows[i].target = ""
			}
		}
	}
	for _, n := range p.throughputSizes {
		if !wanted("throughput") && prefix == "" {
			break
		}
		logf("%sthroughput: %d sessions for %v", prefix, n, p.throughputFor)
		bt, err := measureThroughput(base, n, p.throughputFor)
		if err != nil {
			return nil, fmt.Errorf("baseline throughput %d: %w", n, err)
		}
		pt, err := measureThroughput(port, n, p.throughputFor)
		if err != nil {
			return nil, fmt.Errorf("%sportico throughput %d: %w", prefix, n, err)
		}
		r := row{scenario: fmt.Sprintf("%sthroughput, %d sessions", prefix, n), unit: "lines/s", baseline: bt.linesPerSec,
			portico: pt.linesPerSec, hasBaseline: true}
		if n >= 1000 && prefix == "" {
			r.target = "≥ 0.6×" // issue 16
		}
		rows = append(rows, r, row{scenario: fmt.Sprintf("%sserver CPU per line, %d sessions", prefix, n), unit: "µs",
			baseline: float64(bt.cpuPerLine.Nanoseconds()) / 1000, portico: float64(pt.cpuPerLine.Nanoseconds()) / 1000,
			hasBaseline: true, lowerIsBetter: true},
			row{scenario: fmt.Sprintf("%sserver context switches per line, %d sessions", prefix, n), unit: "switches",
				baseline: bt.switchesPerLine, portico: pt.switchesPerLine, hasBaseline: true, lowerIsBetter: true})
	}
	return rows, nil
}

// remoteRows measures latency and throughput with the telnet plugin as a
// remote plugin (TCP with mutual TLS to the host, instead of the unix
// socket), against a baseline of its own run beside it.
func remoteRows(dir, bin string, p params) ([]row, error) {
	base, err := startBaseline()
	if err != nil {
		return nil, err
	}
	defer base.close()
	port, err := startRemotePortico(dir+"/remote", bin)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	defer port.close()
	return latencyAndThroughput("remote: ", base, port, p)
}
