//go:build unix

package cpuprofile

import (
	"os"
	"syscall"
)

// heapSignal asks for a heap profile.
var heapSignal os.Signal = syscall.SIGUSR1
