package connio

// PollerOptions tune a Poller (NewPollerWith).
type PollerOptions struct {
	// ReadInline makes the Poller read the plain sockets served through it
	// (Conn.Serve) itself, from its one goroutine, for as long as they are
	// open: no connection then has a goroutine of its own, busy or idle,
	// and every connection that is ready when the Poller wakes is read in
	// one round, so that what their handlers send on (a plugin's link to
	// its host) can go out in one write (Batch). Reading and its handler
	// cost one read(2) per round and connection, where a goroutine's read
	// loop makes a second, empty read before it waits, and a wake-up of
	// its goroutine. The price: handlers, OnIdle and end run on the
	// Poller's goroutine and must never block, nor close the Poller (a
	// plugin's never do: its writes to clients and to the host never
	// wait, and it closes its Poller when it stops). A connection that is
	// not a plain socket (TLS) is read by a goroutine of its own while
	// busy and parked while idle, as without the option; on systems
	// without epoll every connection is.
	ReadInline bool
	// Batch, when not nil, is called on the Poller's goroutine before it
	// handles a round of several ready connections, and the function it
	// returns after the round: a plugin holds its link to the host there
	// (sdk.Portal.Cork), so that the input of every connection in the
	// round reaches the host in one write.
	Batch func() (done func())
}
