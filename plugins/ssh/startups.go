package main

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// startups are the connections still logging in: from TCP accept until
// their first shell or command starts. Until then a connection has cost
// the server a key exchange and holds a goroutine and a socket, but no
// limit of the host's counts it: the SDK's per-address limit counts
// sessions, which only exist from the shell or command on, and the plugin
// admits every client's authentication (the host judges the credentials,
// which go with the session). So the plugin bounds them itself, as
// OpenSSH's MaxStartups (per source: PerSourceMaxStartups) does: one
// address may hold at most the host's limits.connections_per_ip of them,
// and one more is closed as soon as it is accepted, before the SSH version
// exchange. Without this, one address holding max_connections idle TCP
// connections locked every other SSH player out.
//
// A connection leaves the table once, by whichever comes first: its first
// shell or command starts, or it closes (a failed handshake, login_grace
// or login_timeout expiring, the client hanging up, Shutdown).
type startups struct {
	// limit is connections_per_ip; 0: no limit per address.
	limit int

	mu     sync.Mutex
	byAddr map[string]int
	guards map[*guard]struct{}
	// closed is set by closeAll: no connection is taken after it.
	closed bool
}

func newStartups(limit int) *startups {
	return &startups{limit: limit, byAddr: map[string]int{}, guards: map[*guard]struct{}{}}
}

// setLimit changes the per-address limit (a live edit of the host's
// connections_per_ip) for connections admitted from now on.
func (s *startups) setLimit(limit int) {
	s.mu.Lock()
	s.limit = limit
	s.mu.Unlock()
}

// Reasons admit gives for refusing a connection.
const (
	refusedPerAddr  = "connections_per_ip connections from this address are logging in"
	refusedMax      = "max_connections reached"
	refusedShutdown = "shutting down"
)

// admit counts g in, and in open (all open connections), unless g's
// address is at the limit or max connections are open; then it returns
// why. Both counts change under one lock with closeAll, so that a
// connection closeAll closes (whose close counts it out of both) was
// counted in both.
func (s *startups) admit(g *guard, open *atomic.Int64, max int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return refusedShutdown
	case s.limit > 0 && s.byAddr[g.addr] >= s.limit:
		return refusedPerAddr
	case open.Add(1) > int64(max):
		open.Add(-1)
		return refusedMax
	}
	s.byAddr[g.addr]++
	s.guards[g] = struct{}{}
	return ""
}

// remove counts g out; it does nothing when g is not counted (any more),
// so that every path may call it and the count drops exactly once.
func (s *startups) remove(g *guard) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.guards[g]; !ok {
		return
	}
	delete(s.guards, g)
	if s.byAddr[g.addr] <= 1 {
		delete(s.byAddr, g.addr)
		return
	}
	s.byAddr[g.addr]--
}

// count returns how many connections from addr (an addrKey) are logging in.
func (s *startups) count(addr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byAddr[addr]
}

// closeAll closes every connection still logging in (at Shutdown:
// gliderlabs' Close only reaches connections past the handshake).
func (s *startups) closeAll() {
	s.mu.Lock()
	s.closed = true
	conns := make([]net.Conn, 0, len(s.guards))
	for g := range s.guards {
		conns = append(conns, g.nc)
	}
	s.mu.Unlock()
	// Outside mu: closing counts the connection out, which takes it.
	for _, nc := range conns {
		_ = nc.Close()
	}
}

// addrKey is the address the per-address limit counts a client under: its
// IPv4 address, or its IPv6 /64 (one subscriber's network, which one
// attacker holds whole).
func addrKey(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return ta.IP.String()
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	prefix, err := ip.WithZone("").Prefix(64)
	if err != nil {
		return ip.String()
	}
	return prefix.String()
}
