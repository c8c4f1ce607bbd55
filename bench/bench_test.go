package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		"fan-out to 5", "memory per logged-in session", "memory per logged-in session (5), past a first burst", "memory per idle session", "fan-out to 10", "fan-out to 10: server CPU per broadcast", "reload, 10 sessions: all answer",
		"reload, 10 sessions: all told restarted", "reload, 10 sessions: host side",
		"remote: latency p50", "remote: throughput, 5 sessions"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q row in:\n%s", want, out.String())
		}
	}
	for _, r := range rows {
		// Memory may not grow measurably for 10 sessions, and the CPU of
		// a broadcast to 10 is below /proc's tick of 10 ms.
		if strings.HasPrefix(r.scenario, "memory") || strings.HasSuffix(r.scenario, "CPU per broadcast") {
			continue
		}
		if r.portico <= 0 {
			t.Errorf("%s: no Portico figure", r.scenario)
		}
		if r.hasBaseline && r.baseline <= 0 {
			t.Errorf("%s: no baseline figure", r.scenario)
		}
	}
}

// TestReadHostReload checks that the reload's phases are read from the
// host's log lines as log/slog writes them, and that lines from before the
// reload do not count.
func TestReadHostReload(t *testing.T) {
	log := `time=2026-12-05T21:00:00.000Z level=INFO msg="sessions restored" plugin=telnet count=9 took=1ms asked=1ms decoded=0s rebuilt=0s
time=2026-12-05T22:00:00.100Z level=INFO msg=re-executing mode=reload binary="/tmp/a b/portico" handover=420.5ms plugins_paused=250ms synced=100ms flushed=70.5ms
time=2026-12-05T22:00:00.480Z level=INFO msg="host starting" server=Bench
time=2026-12-05T22:00:00.490Z level=INFO msg="host restarted" mode=reload took=490ms
time=2026-12-05T22:00:00.900Z level=INFO msg="sessions restored" plugin=telnet count=10000 took=360ms asked=272ms decoded=40ms rebuilt=48ms
`
	path := filepath.Join(t.TempDir(), "host.log")
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 5, 22, 0, 0, 400_000, time.UTC)
	h, err := readHostReload(path, start)
	if err != nil {
		t.Fatal(err)
	}
	want := hostReload{restored: 900 * time.Millisecond, handover: "420.5ms", paused: "250ms", synced: "100ms", flushed: "70.5ms",
		upAt: 490 * time.Millisecond, restore: "360ms", asked: "272ms", decoded: "40ms", rebuilt: "48ms"}
	if h != want {
		t.Fatalf("read %+v\nwant %+v", h, want)
	}
	if _, err := readHostReload(path, start.Add(time.Hour)); err == nil {
		t.Fatal("a log without the reload's lines read as one")
	}
}

// TestExited checks the bench's test for a child that ended: a running
// process is not, one that exited (a zombie until waited for, then gone)
// is.
func TestExited(t *testing.T) {
	if exited(os.Getpid()) {
		t.Fatal("this process reads as ended")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if exited(cmd.Process.Pid) {
		t.Fatal("a running child reads as ended")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !exited(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("a killed child (a zombie) does not read as ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Wait()
	if !exited(cmd.Process.Pid) {
		t.Fatal("a reaped child reads as running")
	}
}
