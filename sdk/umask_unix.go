//go:build unix

package sdk

import (
	"sync"
	"syscall"
)

// privateUmask sets the process umask to 077 and returns what puts the
// previous one back (once, however often it is called).
//
// go-plugin binds the link's unix socket with os.CreateTemp and
// net.Listen in the directory the host names in PLUGIN_UNIX_SOCKET_DIR
// (or os.TempDir when launched by a host that names none). net.Listen
// gives a socket mode 0777 less the umask: under umask 000 any local user
// who can reach the directory could connect, take the link over and read
// every session's traffic. go-plugin offers no hook between the bind and
// the first connection in which to chmod the socket, and this package
// does not learn its path, so the umask is made private for the bind
// instead: from the moment it exists the socket is srwx------ (owner
// only: connecting needs the write bit; x means nothing on a socket),
// whatever umask the plugin was started with. 077 rather than 177, so
// that a directory some other goroutine makes meanwhile stays usable. It is restored as soon as go-plugin asks
// for the gRPC server, which it does right after binding (go-plugin
// v1.8.0 Serve: serverListener, then server.Init), so files the plugin
// makes later get the mode its operator chose. plugintest's Socket check
// launches plugins under umask 000 and would see a change of that order.
func privateUmask() func() {
	old := syscall.Umask(0o077)
	var once sync.Once
	return func() { once.Do(func() { syscall.Umask(old) }) }
}

// socketUmask sets the process umask to 177 while the data socket is bound
// (Server.ListenData), and returns what puts the previous one back: the
// socket is srw------- (0600) from the moment it exists, with no window in
// which a chmod would still be due. Nothing else is made meanwhile.
func socketUmask() func() {
	old := syscall.Umask(0o177)
	var once sync.Once
	return func() { once.Do(func() { syscall.Umask(old) }) }
}
