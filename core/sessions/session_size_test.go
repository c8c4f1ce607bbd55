package sessions

import (
	"testing"
	"unsafe"
)

// TestServerSessionFitsItsSizeClass keeps the host's per-session record in
// the allocator's 512-byte class. The typed protocol flags (72 bytes in
// place of a map pointer, and of a 1.2 KiB map) took it to 528 bytes, so
// 576 a session; the command-rate clock as Unix nanoseconds and the bools
// side by side bring it back to 504: 640 KiB less for 10,000 sessions.
func TestServerSessionFitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(ServerSession{}); n > 512 {
		t.Errorf("ServerSession is %d bytes, want at most 512 (the next size class is 576)", n)
	}
}
