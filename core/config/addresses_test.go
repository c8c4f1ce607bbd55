package config_test

import (
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/sdk/contract"
)

// TestAddressKeys: limits.exempt and limits.trusted_proxies take a YAML
// list or, from the environment, a string of entries; an entry that is
// no address or prefix is an error naming the key and its line; log.level
// and log.format take only their words.
func TestAddressKeys(t *testing.T) {
	c, err := config.Load(writeConfig(t, "limits:\n  exempt: [127.0.0.0/8, \"::1\"]\n  trusted_proxies:\n    - 10.0.0.1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.Exempt != "127.0.0.0/8,::1" || c.Limits.TrustedProxies != "10.0.0.1" {
		t.Errorf("exempt %q trusted_proxies %q", c.Limits.Exempt, c.Limits.TrustedProxies)
	}
	t.Setenv("PORTICO_LIMITS_EXEMPT", "192.0.2.0/24, 198.51.100.1")
	c, err = config.Load(writeConfig(t, ""))
	if err != nil || c.Limits.Exempt != contract.Addresses("192.0.2.0/24,198.51.100.1") {
		t.Errorf("from the environment: %+v, %v", c, err)
	}
	t.Setenv("PORTICO_LIMITS_EXEMPT", "")
	for body, want := range map[string]string{
		"limits:\n  exempt: [127.0.0.1, localhost]\n": `:2: limits.exempt: "localhost" is neither an IP address nor a CIDR prefix`,
		"limits:\n  trusted_proxies: [1]\n":           `:2: limits.trusted_proxies: want a list of addresses and CIDR prefixes, got 1 in it`,
		"log:\n  level: loud\n":                       `:2: log.level: want debug, info, warn or error, got "loud"`,
		"log:\n  format: xml\n":                       `:2: log.format: want text or json, got "xml"`,
	} {
		_, err := config.Load(writeConfig(t, body))
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%q: error %v, want one ending %q", body, err, want)
		}
	}
}
