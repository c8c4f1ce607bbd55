package connio

import (
	"syscall"
	"unsafe"
)

// sysWrite and sysRead are write(2) and read(2) on a non-blocking socket
// without the runtime's system-call bookkeeping (syscall.RawSyscall, not
// syscall.Syscall). Such a call never blocks, so it need not hand its P
// over; and it does not wake the runtime's monitor thread (sysmon), which
// every entersyscall does when the process had gone idle: on a round trip
// through the host and a plugin that was one or two wake-ups and context
// switches of that thread per process (BENCHMARKS.md, session 4). The
// monitor still wakes for the next timer (sysmon sleeps at most until
// then), so preemption of a long computation is not lost.

func sysWrite(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func sysRead(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// sysEpollWaitNow is epoll_wait(2) with a zero timeout, on the same terms
// as sysRead: it never blocks, so it bypasses the runtime's system-call
// bookkeeping (syscall.EpollWait does not, and woke the monitor thread
// twice a round for a Poller's goroutine). epoll_pwait with no signal
// mask is epoll_wait, and exists on every Linux architecture.
func sysEpollWaitNow(epfd int, events []syscall.EpollEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
