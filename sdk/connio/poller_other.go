//go:build !linux

package connio

// Poller holds idle connections without a goroutine each on Linux (epoll).
// Elsewhere it parks none: each Conn keeps its reading goroutine.
type Poller struct{}

// NewPoller returns a Poller that never parks.
func NewPoller() (*Poller, error) { return &Poller{}, nil }

// NewPollerWith returns a Poller that never parks nor reads: the options
// need epoll.
func NewPollerWith(PollerOptions) (*Poller, error) { return &Poller{}, nil }

func (p *Poller) add(*Conn) bool   { return false }
func (p *Poller) serve(*Conn) bool { return false }
func (p *Poller) remove(*Conn)     {}

// Len returns the number of connections parked now: none.
func (p *Poller) Len() int { return 0 }

// Close does nothing.
func (p *Poller) Close() error { return nil }
