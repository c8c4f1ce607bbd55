//go:build !unix

package sdk

// privateUmask does nothing where there is no umask: go-plugin links over
// loopback TCP there, not a unix socket.
func privateUmask() func() { return func() {} }

// socketUmask does nothing where there is no umask.
func socketUmask() func() { return func() {} }
