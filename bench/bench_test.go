package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestMain lets the test binary serve as the baseline server too, as the
// bench binary does (startBaseline re-executes os.Executable()).
func TestMain(m *testing.M) {
	for _, a := range os.Args[1:] {
		if a == "-baseline-server" {
			runBaselineServer()
			return
		}
	}
	os.Exit(m.Run())
}

// TestBenchToolRuns runs every scenario at a tiny scale so that the tool
// cannot rot. It checks that each scenario produced a figure, not what the
// figures are: timings on a shared machine are not a test.
func TestBenchToolRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binaries")
	}
	var logs bytes.Buffer
	rows, err := run(tiny, false, &logs)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, logs.String())
	}
	var out bytes.Buffer
	printTable(&out, rows)
	t.Logf("\n%s", out.String())
	for _, want := range []string{"latency p50", "latency p99", "throughput, 1 sessions", "throughput, 5 sessions",
		"fan-out to 5", "memory per logged-in session", "memory per idle session", "fan-out to 10", "reload, 10 sessions",
		"remote: latency p50", "remote: throughput, 5 sessions"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q row in:\n%s", want, out.String())
		}
	}
	for _, r := range rows {
		if r.portico <= 0 && !strings.HasPrefix(r.scenario, "memory") {
			t.Errorf("%s: no Portico figure", r.scenario)
		}
		if r.hasBaseline && r.baseline <= 0 && !strings.HasPrefix(r.scenario, "memory") {
			t.Errorf("%s: no baseline figure", r.scenario)
		}
	}
}
