package wire

import "testing"

// TestWindowsAreStatic checks the windows are ones gRPC honours: it ignores
// a window under 64 KiB and goes on estimating the bandwidth-delay product
// (the pings the static windows are there to save), and a connection
// window smaller than the stream's would hold a stream below its own.
func TestWindowsAreStatic(t *testing.T) {
	const grpcMinWindow = 64 << 10
	if StreamWindowBytes < grpcMinWindow || ConnWindowBytes < StreamWindowBytes {
		t.Fatalf("stream window %d, connection window %d: want stream ≥ %d and connection ≥ stream",
			StreamWindowBytes, ConnWindowBytes, grpcMinWindow)
	}
	if StreamWindowBytes < MaxFrameBytes {
		t.Fatalf("stream window %d holds no whole frame of %d bytes", StreamWindowBytes, MaxFrameBytes)
	}
}
