package wire

import "google.golang.org/grpc"

// The Link's HTTP/2 flow-control windows, the same on both sides. Setting
// them makes them static: gRPC then stops estimating the bandwidth-delay
// product, whose PING frames and window updates cost about 12 % of the
// servers' CPU per round trip (issue 16). The stream window holds a few of
// the largest frames (MaxFrameBytes) in flight; the connection window, a
// stream's worth more for the control calls beside it. They bound what one
// side buffers for the other, not what it allocates up front.
const (
	StreamWindowBytes = 4 << 20
	ConnWindowBytes   = 8 << 20
)

// DialOptions are the gRPC options of the host's side of the Link (the
// client): the message size limit and the static windows.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithInitialWindowSize(StreamWindowBytes),
		grpc.WithInitialConnWindowSize(ConnWindowBytes),
	}
}

// ServerOptions are the gRPC options of the plugin's side of the Link (the
// server): the message size limit and the static windows.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.InitialWindowSize(StreamWindowBytes),
		grpc.InitialConnWindowSize(ConnWindowBytes),
	}
}
