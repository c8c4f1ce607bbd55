//go:build !unix

package cpuprofile

import "os"

// heapSignal is nil where there is no SIGUSR1: no heap profiles on demand.
var heapSignal os.Signal
