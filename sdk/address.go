package sdk

import (
	"sync"

	"github.com/portico-mud/portico/sdk/contract"
)

// ClientNetwork returns the network a client address counts under for the
// per-address limits: contract.ClientNetwork, here so that a plugin finds it
// beside AddressCounter. The host counts by the same function, so both sides
// agree on what one address is.
//
// Portal.NewSession counts sessions by it; a plugin that bounds what comes
// before a session (connections still logging in or yet to say who they
// are) should count by it too.
func ClientNetwork(address string) string { return contract.ClientNetwork(address) }

// AddressCounter counts open things (sessions, connections not yet
// sessions) per client network, as ClientNetwork gives it, against a
// limit: the host's limits.connections_per_ip. It is safe for concurrent
// use. The zero value counts with no limit; a network with nothing open
// holds no memory.
type AddressCounter struct {
	mu     sync.Mutex
	limit  int
	counts map[string]int
	// exempt are the networks never counted (limits.exempt); the portal
	// keeps them for the counters it makes.
	exempt contract.AddressList
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

// setExempt sets the networks never counted (the host's limits.exempt).
// A network counted before it became exempt stays counted until the
// host's list changes back.
func (c *AddressCounter) setExempt(l contract.AddressList) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exempt = l
}

// exemptContains reports whether network is exempt in c.
func (c *AddressCounter) exemptContains(network string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return network != "" && c.exempt.Contains(network)
}

// Admit counts one more open from network, or reports false (counting
// nothing) when network already holds the limit. The empty network (an
// address that is no IP) and, in a counter the portal made, a network in
// the host's limits.exempt are always admitted and never counted. Every
// true Admit must be matched by one Release.
func (c *AddressCounter) Admit(network string) bool {
	if network == "" {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exempt.Contains(network) {
		return true
	}
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
	if c.exempt.Contains(network) {
		return
	}
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
