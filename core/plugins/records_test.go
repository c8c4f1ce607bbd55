package plugins

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/config"
)

func startSleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func recordOf(t *testing.T, pid int) *record {
	t.Helper()
	start, _, err := procStartTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Readlink(filepath.Join("/proc", itoa(pid), "exe"))
	if err != nil {
		t.Fatal(err)
	}
	return &record{Name: "x", Pid: pid, StartTicks: start, Exe: exe}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestIsSameProcess(t *testing.T) {
	cmd := startSleeper(t)
	rec := recordOf(t, cmd.Process.Pid)
	if !isSameProcess(rec) {
		t.Fatal("a live recorded process is not recognised")
	}
	// Same pid, other start time: a reused pid.
	reused := *rec
	reused.StartTicks++
	if isSameProcess(&reused) {
		t.Fatal("a different start time was taken for the same process")
	}
	other := *rec
	other.Exe = "/usr/bin/something-else"
	if isSameProcess(&other) {
		t.Fatal("a different executable was taken for the same process")
	}
	if isSameProcess(&record{Pid: 0}) || isSameProcess(&record{Pid: -1}) {
		t.Fatal("pid 0 or -1 taken for a process")
	}
}

// TestKillRecordedSparesReusedPid: a record whose pid now belongs to
// another process must not kill it (go-plugin PR #320).
func TestKillRecordedSparesReusedPid(t *testing.T) {
	cmd := startSleeper(t)
	rec := recordOf(t, cmd.Process.Pid)
	stale := *rec
	stale.StartTicks-- // as if the recorded plugin died and the pid was reused
	killRecorded(&stale)
	if !isSameProcess(rec) {
		t.Fatal("killRecorded killed a process that was not the recorded one")
	}
	killRecorded(rec)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("killRecorded did not end the recorded process")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{Server: config.Server{DataDir: dir}}
	m := NewManager(cfg, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	rec := record{Name: "telnet", Pid: 42, StartTicks: 7, Exe: "/bin/x", Network: "unix", Addr: "/tmp/s",
		ProtocolVersion: 1, ProtocolKey: "telnet", ConfigJSON: `{"listen":":4000"}`, Restarts: 2,
		Listen: []string{"[::]:4000"}}
	if err := m.writeRecord(rec); err != nil {
		t.Fatal(err)
	}
	got, err := m.readRecord("telnet")
	if err != nil {
		t.Fatal(err)
	}
	got.Started = rec.Started
	if !reflect.DeepEqual(*got, rec) {
		t.Fatalf("read %+v, wrote %+v", *got, rec)
	}
	if names := m.recordNames(); len(names) != 1 || names[0] != "telnet" {
		t.Fatalf("record names %v", names)
	}
	info, err := os.Stat(m.recordPath("telnet"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("record mode %v, want 0600", info.Mode().Perm())
	}
	m.removeRecord("telnet")
	if _, err := m.readRecord("telnet"); !os.IsNotExist(err) {
		t.Fatalf("record still there: %v", err)
	}
	// A stale record (dead pid) is not reattached to and is removed.
	if err := m.writeRecord(rec); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := m.reattachable(t.Context(), config.Plugin{Name: "telnet"}); r != nil {
		t.Fatalf("stale record reattachable: %+v", r)
	}
	if _, err := m.readRecord("telnet"); !os.IsNotExist(err) {
		t.Fatal("stale record not removed")
	}
}

func TestProcStartTicksOfSelf(t *testing.T) {
	start, ppid, err := procStartTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if start == 0 || ppid != os.Getppid() {
		t.Fatalf("start %d ppid %d (want %d)", start, ppid, os.Getppid())
	}
	if _, _, err := procStartTicks(1 << 30); err == nil {
		t.Fatal("no error for a pid that does not exist")
	}
}
