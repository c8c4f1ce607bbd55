//go:build !unix

package sdk

import "net"

// drainRefused does nothing here: the connection is closed as it is.
func drainRefused(net.Conn) {}
