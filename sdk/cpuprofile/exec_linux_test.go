package cpuprofile

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// profTimerArmed says whether the process's profiling interval timer is
// set: the timer the kernel keeps across an exec.
func profTimerArmed(t *testing.T) bool {
	t.Helper()
	it, err := unix.Getitimer(unix.ItimerProf)
	if err != nil {
		t.Fatal(err)
	}
	return it.Interval != (unix.Timeval{}) || it.Value != (unix.Timeval{})
}

// TestStopForExecDisarmsTheTimer checks what the host's reload relies on:
// after StopForExec no profiling timer is left to kill the re-executed
// image with SIGPROF, and the profile so far is written out. Without it a
// bench run with -profile lost every session at the reload.
func TestStopForExecDisarmsTheTimer(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvDir, dir)
	stop, err := Start("exec")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !profTimerArmed(t) {
		t.Fatal("no profiling timer while profiling: the test cannot show anything")
	}
	StopForExec()
	if profTimerArmed(t) {
		t.Fatal("the profiling timer is still armed after StopForExec: an exec now would be killed by SIGPROF")
	}
	if fi, err := os.Stat(filepath.Join(dir, "exec.cpu.pprof")); err != nil || fi.Size() == 0 {
		t.Fatalf("the profile was not written out before the exec: %v", err)
	}
	// Harmless again, and after the stop function.
	StopForExec()
	stop()
}

// TestStopForExecWithoutAProfile checks that it is harmless when nothing
// is being profiled.
func TestStopForExecWithoutAProfile(t *testing.T) {
	t.Setenv(EnvDir, "")
	StopForExec()
	if profTimerArmed(t) {
		t.Fatal("a profiling timer is armed with no profile running")
	}
}
