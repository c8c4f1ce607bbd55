//go:build !linux

package connio

import "syscall"

// sysWrite and sysRead are write(2) and read(2) on a non-blocking socket
// (see sysio_linux.go for why Linux bypasses the runtime's bookkeeping).
func sysWrite(fd int, b []byte) (int, error) {
	n, err := syscall.Write(fd, b)
	return max(n, 0), err
}

func sysRead(fd int, b []byte) (int, error) {
	n, err := syscall.Read(fd, b)
	return max(n, 0), err
}
