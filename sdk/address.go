package sdk

import (
	"net"
	"net/netip"
	"sync"
)

// ClientNetwork returns the network a client address counts under for the
// per-address connection limits (the host's limits.connections_per_ip and
// connection_rate): the IPv4 address, or the IPv6 /64 it is in. A
// subscriber is usually given a whole /64, so counting single IPv6
// addresses would let one client hop past every limit. An IPv4-mapped
// IPv6 address counts as its IPv4 address, and an IPv6 zone is dropped.
//
// address is an IP with or without a port ("192.0.2.1",
// "[2001:db8::1]:4000"), as net.Addr.String and http.Request.RemoteAddr
// give it. ClientNetwork returns "" when address is not an IP (a bot's
// "#chan@network"): no per-address limit applies to it, and
// AddressCounter takes "" without counting it.
//
// Portal.NewSession counts sessions by it; a plugin that bounds what comes
// before a session (connections still logging in or yet to say who they
// are) should count by it too, so that both agree on what one address is.
func ClientNetwork(address string) string {
	host := address
	if h, _, err := net.SplitHostPort(address); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	// The zone names the local interface, not the client's network.
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ""
	}
	return p.String()
}

// AddressCounter counts open things (sessions, connections not yet
// sessions) per client network, as ClientNetwork gives it, against a
// limit: the host's limits.connections_per_ip. It is safe for concurrent
// use. The zero value counts with no limit; a network with nothing open
// holds no memory.
type AddressCounter struct {
	mu     sync.Mutex
	limit  int
	counts map[string]int
}

// NewAddressCounter returns a counter that admits at most limit at once
// per network; a limit of 0 or less admits all (and still counts).
func NewAddressCounter(limit int) *AddressCounter {
	return &AddressCounter{limit: limit}
}

// SetLimit changes the limit (a host that reattached may have changed
// it). What is open stays counted; past a lowered limit, Admit refuses
// until enough are released.
func (c *AddressCounter) SetLimit(limit int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit = limit
}

// Admit counts one more open from network, or reports false (counting
// nothing) when network already holds the limit. The empty network (an
// address that is no IP) is always admitted and never counted. Every
// true Admit must be matched by one Release.
func (c *AddressCounter) Admit(network string) bool {
	if network == "" {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limit > 0 && c.counts[network] >= c.limit {
		return false
	}
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[network]++
	return true
}

// Release counts one open from network out. It does nothing for a network
// with nothing counted, and for "".
func (c *AddressCounter) Release(network string) {
	if network == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts[network] <= 1 {
		delete(c.counts, network)
		return
	}
	c.counts[network]--
}

// Count returns how many are counted open from network.
func (c *AddressCounter) Count(network string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[network]
}
