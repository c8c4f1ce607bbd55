// Package cpuprofile writes a CPU profile of a Portico process when the
// environment asks for one (PORTICO_CPUPROFILE=<dir>), so that the host and
// every plugin of a benchmark run can be profiled without code changes, and
// a heap profile (<name>.heap.pprof, and <name>.heap.txt with the runtime's
// memory statistics) each time the process gets SIGUSR1 meanwhile: the bench
// sends it while its idle sessions are open. It does nothing when the
// variable is unset.
package cpuprofile

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
)

// EnvDir names the directory profiles are written to.
const EnvDir = "PORTICO_CPUPROFILE"

// Start begins profiling into <dir>/<name>.cpu.pprof if EnvDir is set. The
// returned stop function flushes the profile; it is safe to call more than
// once.
func Start(name string) (stop func(), err error) {
	dir := os.Getenv(EnvDir)
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return func() {}, fmt.Errorf("cpuprofile: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, name+".cpu.pprof"))
	if err != nil {
		return func() {}, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}, fmt.Errorf("cpuprofile: %w", err)
	}
	usr1 := make(chan os.Signal, 1)
	done := make(chan struct{})
	if heapSignal != nil {
		signal.Notify(usr1, heapSignal)
		go heapOnSignal(filepath.Join(dir, name+".heap"), usr1, done)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			activeMu.Lock()
			active = nil
			activeMu.Unlock()
			signal.Stop(usr1)
			close(done)
			pprof.StopCPUProfile()
			f.Close()
		})
	}
	activeMu.Lock()
	active = stop
	activeMu.Unlock()
	return stop, nil
}

// active is the stop function of the profile Start began in this process,
// nil when none runs.
var (
	activeMu sync.Mutex
	active   func()
)

// StopForExec ends the profile Start began in this process, if one runs,
// and writes it out. A process that replaces itself with syscall.Exec (the
// host's reload) must call it just before: the kernel keeps the profiling
// interval timer (ITIMER_PROF) across an exec, and its next SIGPROF kills
// the new image ("Profiling timer expired") before that image's runtime
// has installed a handler for it.
func StopForExec() {
	activeMu.Lock()
	stop := active
	activeMu.Unlock()
	if stop != nil {
		stop()
	}
}

// heapOnSignal writes a heap profile to <base>.pprof, and its text form
// with the runtime's memory statistics to <base>.txt, at each signal on
// sig, until done is closed. Errors are not reported: the profile is a
// measuring aid.
func heapOnSignal(base string, sig <-chan os.Signal, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-sig:
		}
		// Collected first, so that the profile shows what is live now.
		runtime.GC()
		for _, form := range []struct {
			ext   string
			debug int
		}{{".pprof", 0}, {".txt", 1}} {
			if f, err := os.Create(base + form.ext); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, form.debug)
				f.Close()
			}
		}
	}
}
