package main

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/portico-mud/portico/sdk"
)

// Config is the plugin's block in config.yaml (plugins.telnet.config).
// Every key is documented in README.md.
type Config struct {
	// Listen is the address to accept plain telnet clients on.
	Listen string `json:"listen"`
	// TLSListen is the address for telnet over TLS; empty turns TLS off.
	TLSListen string `json:"tls_listen"`
	// TLSCert and TLSKey are PEM files. Empty with TLS on: a self-signed
	// pair is generated once into <data_dir>/telnet-tls/ and reused.
	TLSCert string `json:"tls_cert"`
	TLSKey  string `json:"tls_key"`
	// MaxLineLength is the longest line in characters; 0 takes the host's
	// limits.max_input_length.
	MaxLineLength int `json:"max_line_length"`
	// Keepalive is how often an IAC NOP is sent to every client (Evennia's
	// NOPKEEPALIVE), so that idle connections through NAT stay open and
	// dead ones are noticed; 0 turns it off.
	Keepalive Duration `json:"keepalive"`
	// DisableOptions names telnet options not to offer nor accept.
	DisableOptions []string `json:"disable_options"`
	// MSSP adds or replaces fields of the MSSP table.
	MSSP map[string]any `json:"mssp"`
	// WebclientURL is the game's webclient, named to a browser that
	// opened the telnet port by mistake (an HTTP request); empty names none.
	WebclientURL string `json:"webclient_url"`
}

// Defaults.
const (
	// DefaultListen is Evennia's telnet port.
	DefaultListen = ":4000"
	// DefaultKeepalive is Evennia's NOP keepalive interval.
	DefaultKeepalive = 30 * time.Second
)

// defaultConfig returns the config with every default filled in.
func defaultConfig() Config {
	return Config{Listen: DefaultListen, Keepalive: Duration(DefaultKeepalive)}
}

// Validate checks the config's values, each problem a *sdk.ConfigError
// naming its key (joined when there are several). It does not look at
// files or addresses (see Plugin.Validate).
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, sdk.KeyError("listen", "%q is not host:port", c.Listen))
	}
	if c.TLSListen != "" {
		if _, _, err := net.SplitHostPort(c.TLSListen); err != nil {
			errs = append(errs, sdk.KeyError("tls_listen", "%q is not host:port", c.TLSListen))
		} else if _, port, _ := net.SplitHostPort(c.TLSListen); c.TLSListen == c.Listen && port != "0" {
			errs = append(errs, sdk.KeyError("tls_listen", "%q is also listen's address", c.TLSListen))
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, sdk.KeyError("tls_key", "give tls_cert and tls_key both or neither"))
	}
	if c.MaxLineLength < 0 {
		errs = append(errs, sdk.KeyError("max_line_length", "must not be negative"))
	}
	if c.Keepalive < 0 {
		errs = append(errs, sdk.KeyError("keepalive", "must not be negative"))
	}
	if _, err := newPolicy(c.DisableOptions); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseMSSPConfig(c.MSSP); err != nil {
		errs = append(errs, err)
	}
	if c.WebclientURL != "" {
		if u, err := url.Parse(c.WebclientURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			strings.ContainsFunc(c.WebclientURL, unicode.IsControl) {
			errs = append(errs, sdk.KeyError("webclient_url", "%q is not an http:// or https:// address", c.WebclientURL))
		}
	}
	return errors.Join(errs...)
}

// Duration is sdk.Duration: a config duration ("30s" or seconds).
type Duration = sdk.Duration
