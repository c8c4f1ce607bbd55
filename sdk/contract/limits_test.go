package contract

import "testing"

// TestAddressList: entries parse as addresses or prefixes (an address is
// its own /32 or /128, a mapped IPv4 its IPv4), Contains takes addresses
// with or without ports and client networks (an IPv6 /64, held by a
// prefix only when the prefix holds it whole), and a bad entry is named.
func TestAddressList(t *testing.T) {
	a := JoinAddresses([]string{" 127.0.0.0/8", "", "::ffff:192.0.2.1", "2001:db8::/48 "})
	if a != "127.0.0.0/8,::ffff:192.0.2.1,2001:db8::/48" || len(a.List()) != 3 || Addresses("").List() != nil {
		t.Fatalf("JoinAddresses = %q, List %q", a, a.List())
	}
	l, err := a.Parse()
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"127.1.2.3": true, "127.0.0.1:4000": true, "192.0.2.1": true, "[::ffff:192.0.2.1]:22": true,
		"192.0.2.2": false, "2001:db8:0:1::7": true, "2001:db8:0:1::/64": true, "2001:db9::/64": false,
		"2001:db8::/32": false, "#chan@net": false, "": false,
	} {
		if got := l.Contains(addr); got != want {
			t.Errorf("Contains(%q) = %v, want %v", addr, got, want)
		}
	}
	if _, err := ParseAddressList([]string{"10.0.0.0/8", "localhost"}); err == nil || err.Error() != `"localhost" is neither an IP address nor a CIDR prefix` {
		t.Errorf("bad entry: %v", err)
	}
	if (AddressList{}).Contains("127.0.0.1") {
		t.Error("an empty list holds an address")
	}
}
