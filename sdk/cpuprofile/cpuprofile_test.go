//go:build unix

package cpuprofile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHeapProfileOnSignal checks that, with the variable set, SIGUSR1
// writes a heap profile and the memory statistics beside the CPU profile,
// and that the CPU profile is written at stop.
func TestHeapProfileOnSignal(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvDir, dir)
	stop, err := Start("unit")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	txt := filepath.Join(dir, "unit.heap.txt")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(txt)
		if err == nil && strings.Contains(string(b), "# runtime.MemStats") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no heap profile in %s after SIGUSR1 (%v)", txt, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if fi, err := os.Stat(filepath.Join(dir, "unit.heap.pprof")); err != nil || fi.Size() == 0 {
		t.Fatalf("heap.pprof: %v", err)
	}
	stop()
	if fi, err := os.Stat(filepath.Join(dir, "unit.cpu.pprof")); err != nil || fi.Size() == 0 {
		t.Fatalf("cpu.pprof: %v", err)
	}
}

// TestUnsetDoesNothing checks that without the variable nothing is
// written and stop is harmless.
func TestUnsetDoesNothing(t *testing.T) {
	t.Setenv(EnvDir, "")
	stop, err := Start("unit")
	if err != nil {
		t.Fatal(err)
	}
	stop()
	stop()
}
