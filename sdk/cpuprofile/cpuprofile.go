// Package cpuprofile writes a CPU profile of a Portico process when the
// environment asks for one (PORTICO_CPUPROFILE=<dir>), so that the host and
// every plugin of a benchmark run can be profiled without code changes. It
// does nothing when the variable is unset.
package cpuprofile

import (
	"fmt"
	"os"
	"path/filepath"
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
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}, nil
}
