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
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// params size a run.
type params struct {
	latencyTrips    int
	throughputFor   time.Duration
	throughputSizes []int
	fanoutSmall     int
	capacity        int
}

var (
	full = params{latencyTrips: 10000, throughputFor: 10 * time.Second, throughputSizes: []int{1, 100, 1000},
		fanoutSmall: 1000, capacity: 10000}
	short = params{latencyTrips: 2000, throughputFor: 2 * time.Second, throughputSizes: []int{1, 100, 1000},
		fanoutSmall: 1000, capacity: 2000}
	tiny = params{latencyTrips: 50, throughputFor: 300 * time.Millisecond, throughputSizes: []int{1, 5},
		fanoutSmall: 5, capacity: 10}
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
	logf("latency: %d round trips each", p.latencyTrips)
	bl, err := measureLatency(base, p.latencyTrips)
	if err != nil {
		return nil, fmt.Errorf("baseline latency: %w", err)
	}
	pl, err := measureLatency(port, p.latencyTrips)
	if err != nil {
		return nil, fmt.Errorf("portico latency: %w", err)
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	rows = append(rows,
		row{scenario: "latency p50", unit: "µs", baseline: us(bl.p50), portico: us(pl.p50), hasBaseline: true, target: "≤ 2×", lowerIsBetter: true},
		row{scenario: "latency p99", unit: "µs", baseline: us(bl.p99), portico: us(pl.p99), hasBaseline: true, target: "≤ 3×", lowerIsBetter: true},
		row{scenario: "latency p999", unit: "µs", baseline: us(bl.p999), portico: us(pl.p999), hasBaseline: true, lowerIsBetter: true})
	for _, n := range p.throughputSizes {
		logf("throughput: %d sessions for %v", n, p.throughputFor)
		bt, err := measureThroughput(base, n, p.throughputFor)
		if err != nil {
			return nil, fmt.Errorf("baseline throughput %d: %w", n, err)
		}
		pt, err := measureThroughput(port, n, p.throughputFor)
		if err != nil {
			return nil, fmt.Errorf("portico throughput %d: %w", n, err)
		}
		r := row{scenario: fmt.Sprintf("throughput, %d sessions", n), unit: "lines/s", baseline: bt, portico: pt, hasBaseline: true}
		if n >= 1000 {
			r.target = "≥ 0.5×"
		}
		rows = append(rows, r)
	}
	base.close()
	port.close()

	// Capacity, fan-out and reload, against fresh servers.
	base2, err := startBaseline()
	if err != nil {
		return nil, err
	}
	defer base2.close()
	port2, err := startPortico(dir+"/b", bin)
	if err != nil {
		return nil, err
	}
	defer port2.close()
	baseMem0, err := memory(base2)
	if err != nil {
		return nil, err
	}
	portMem0, err := memory(port2)
	if err != nil {
		return nil, err
	}

	logf("fan-out: %d sessions", p.fanoutSmall)
	bcs, err := openSessions(base2, p.fanoutSmall, 200)
	if err != nil {
		return nil, fmt.Errorf("baseline sessions: %w", err)
	}
	defer func() { closeAll(bcs) }()
	pcs, err := openSessions(port2, p.fanoutSmall, 200)
	if err != nil {
		return nil, fmt.Errorf("portico sessions: %w", err)
	}
	defer func() { closeAll(pcs) }()
	baseTrigger := func(token string) error { return bcs[0].send("BROADCAST " + token) }
	portTrigger := func(token string) error {
		_, err := port2.call("announce", map[string]string{"text": token})
		return err
	}
	bf, err := measureFanout(base2, bcs, baseTrigger)
	if err != nil {
		return nil, fmt.Errorf("baseline fan-out: %w", err)
	}
	pf, err := measureFanout(port2, pcs, portTrigger)
	if err != nil {
		return nil, fmt.Errorf("portico fan-out: %w", err)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	rows = append(rows, row{scenario: fmt.Sprintf("fan-out to %d", p.fanoutSmall), unit: "ms", baseline: ms(bf), portico: ms(pf), hasBaseline: true, lowerIsBetter: true})

	if more := p.capacity - p.fanoutSmall; more > 0 {
		logf("capacity: %d idle sessions", p.capacity)
		extra, err := openSessions(base2, more, 200)
		if err != nil {
			return nil, fmt.Errorf("baseline sessions: %w", err)
		}
		bcs = append(bcs, extra...)
		extra, err = openSessions(port2, more, 200)
		if err != nil {
			return nil, fmt.Errorf("portico sessions: %w", err)
		}
		pcs = append(pcs, extra...)
	}
	// Let the servers settle before reading their memory.
	time.Sleep(2 * time.Second)
	baseMem, err := memory(base2)
	if err != nil {
		return nil, err
	}
	portMem, err := memory(port2)
	if err != nil {
		return nil, err
	}
	perSession := func(after, before int64) float64 { return float64(after-before) / float64(p.capacity) / 1024 }
	rows = append(rows, row{scenario: fmt.Sprintf("memory per idle session (%d)", p.capacity), unit: "KiB",
		baseline: perSession(baseMem, baseMem0), portico: perSession(portMem, portMem0), hasBaseline: true,
		target: "≤ 16 KiB", lowerIsBetter: true,
		note: fmt.Sprintf("portico host+plugin RSS %.1f MiB", float64(portMem)/(1<<20))})

	if p.capacity > p.fanoutSmall {
		logf("fan-out: %d sessions", p.capacity)
		bf, err = measureFanout(base2, bcs, baseTrigger)
		if err != nil {
			return nil, fmt.Errorf("baseline fan-out: %w", err)
		}
		pf, err = measureFanout(port2, pcs, portTrigger)
		if err != nil {
			return nil, fmt.Errorf("portico fan-out: %w", err)
		}
		rows = append(rows, row{scenario: fmt.Sprintf("fan-out to %d", p.capacity), unit: "ms", baseline: ms(bf), portico: ms(pf),
			hasBaseline: true, target: "≤ 100 ms", lowerIsBetter: true})
	}

	logf("reload: %d sessions", p.capacity)
	rr, err := measureReload(port2, pcs)
	if err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	rows = append(rows, row{scenario: fmt.Sprintf("reload, %d sessions: all answer", p.capacity), unit: "ms",
		portico: ms(rr.elapsed), target: "≤ 1000 ms, 0 dropped", lowerIsBetter: true,
		note: fmt.Sprintf("%d dropped", rr.dropped)})
	if rr.dropped != 0 {
		return rows, fmt.Errorf("reload dropped %d sessions", rr.dropped)
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
