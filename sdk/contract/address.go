package contract

import (
	"net"
	"net/netip"
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
// sdk.AddressCounter takes "" without counting it.
//
// The host (its per-network queues) and the plugins (sdk.ClientNetwork,
// their per-address limits) count by this one function, so that both agree
// on what one address is.
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
