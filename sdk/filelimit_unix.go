//go:build unix

package sdk

import (
	"net"
	"syscall"
)

// drainRefused reads, without waiting, what a client refused at the open-file
// limit sent already (an SSH client sends its version at once, a telnet
// client its negotiation), so that closing the connection sends a FIN: a
// close with unread data sends a reset, which can destroy the refusal
// before the client has read it.
func drainRefused(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	var buf [512]byte
	_ = raw.Read(func(fd uintptr) bool {
		// Bounded: a client cannot keep the accept loop here.
		for range 16 {
			if n, err := syscall.Read(int(fd), buf[:]); n <= 0 || err != nil {
				break
			}
		}
		return true // never wait
	})
}
