package contract

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
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

// Addresses is a list of IP addresses and CIDR prefixes as config.yaml
// gives it (limits.exempt, limits.trusted_proxies), kept as one string of
// comma-separated entries so that Limits, and the structs holding it,
// stay comparable with ==. JoinAddresses makes one; List and Parse read
// it.
type Addresses string

// JoinAddresses makes Addresses of a list, each entry trimmed; empty
// entries are left out.
func JoinAddresses(list []string) Addresses {
	var out []string
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return Addresses(strings.Join(out, ","))
}

// List returns the entries; none for "".
func (a Addresses) List() []string {
	if strings.TrimSpace(string(a)) == "" {
		return nil
	}
	return strings.Split(string(a), ",")
}

// Parse parses the entries (ParseAddressList).
func (a Addresses) Parse() (AddressList, error) { return ParseAddressList(a.List()) }

// AddressList is a parsed list of IP addresses and CIDR prefixes
// (limits.exempt, limits.trusted_proxies).
type AddressList []netip.Prefix

// ParseAddressList reads a list of IPs ("127.0.0.1", "::1") and CIDR
// prefixes ("10.0.0.0/8"); its error names the first entry that is
// neither.
func ParseAddressList(list []string) (AddressList, error) {
	var out AddressList
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR prefix", s)
		}
		a = a.Unmap().WithZone("")
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Contains reports whether address is in the list. address is an IP with
// or without a port, or a client network as ClientNetwork gives it (an
// IPv6 /64, which is in the list when a prefix of the list holds it
// whole).
func (l AddressList) Contains(address string) bool {
	if len(l) == 0 {
		return false
	}
	host := address
	if h, _, err := net.SplitHostPort(address); err == nil {
		host = h
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap().WithZone("")
		for _, p := range l {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if n, err := netip.ParsePrefix(host); err == nil {
		for _, p := range l {
			if p.Bits() <= n.Bits() && p.Contains(n.Addr()) {
				return true
			}
		}
	}
	return false
}
