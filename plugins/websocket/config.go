package main

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/portico-mud/portico/sdk"
)

// Config is the plugin's block in config.yaml (plugins.websocket.config).
// Every key is documented in README.md; none of them changes live (the host
// restarts the plugin when its config changes).
type Config struct {
	// Listen is the address the webclient page and the websocket are
	// served on.
	Listen string `json:"listen"`
	// TLSCert and TLSKey are PEM files; given both, the page and the
	// websocket are served over HTTPS/WSS.
	TLSCert string `json:"tls_cert"`
	TLSKey  string `json:"tls_key"`
	// Subprotocols is the server's order of preference among the wire
	// formats a client offers in Sec-WebSocket-Protocol. A client that
	// offers none of them, or nothing, gets v1.evennia.com.
	Subprotocols []string `json:"subprotocols"`
	// ResumeGrace is how long a session outlives a connection that ended
	// without a clean close, waiting for the same csessid to come back.
	// 0 ends every session with its connection.
	ResumeGrace Duration `json:"resume_grace"`
	// PingInterval is how often an idle-looking connection is pinged;
	// PingTimeout how long the pong may take before the connection counts
	// as dropped. An interval of 0 turns pinging off.
	PingInterval Duration `json:"ping_interval"`
	PingTimeout  Duration `json:"ping_timeout"`
	// MaxMessageSize is the largest websocket message a client may send, in
	// bytes; a larger one closes the connection with 1009. 0 derives it from
	// the host's limits.max_input_length.
	MaxMessageSize int `json:"max_message_size"`
	// CommandRate is how many messages per second one session may send;
	// the excess is dropped with a message. 0 turns the limit off.
	CommandRate float64 `json:"command_rate"`
	// OutputBuffer bounds, in bytes, the output held for a session whose
	// connection is gone (within resume_grace) or not keeping up; past it
	// the oldest output is dropped.
	OutputBuffer int `json:"output_buffer"`
	// AllowedOrigins lists the origins (host patterns, path.Match syntax)
	// whose pages may open a websocket here besides the page's own host.
	AllowedOrigins []string `json:"allowed_origins"`
	// TrustedProxies lists the addresses (IPs or CIDR prefixes) of reverse
	// proxies whose X-Forwarded-For header names the real client.
	TrustedProxies []string `json:"trusted_proxies"`
}

// Defaults.
const (
	// DefaultListen is Evennia's websocket port.
	DefaultListen = ":4002"
	// DefaultResumeGrace covers a page reload or a short network drop.
	DefaultResumeGrace = 30 * time.Second
	// DefaultPingInterval and DefaultPingTimeout find a dead connection
	// within a minute; browsers answer pings on their own.
	DefaultPingInterval = 30 * time.Second
	DefaultPingTimeout  = 15 * time.Second
	// DefaultCommandRate is Evennia's MAX_COMMAND_RATE.
	DefaultCommandRate = 80
	// DefaultOutputBuffer holds a few screens of heavy output.
	DefaultOutputBuffer = 1 << 20
)

// Wire format names, as clients offer them in Sec-WebSocket-Protocol.
const (
	ProtoJSON     = "json.mudstandards.org"
	ProtoGMCP     = "gmcp.mudstandards.org"
	ProtoTerminal = "terminal.mudstandards.org"
	ProtoV1       = "v1.evennia.com"
	// ProtoPortico is what the plugin's own page speaks: v1.evennia.com
	// with the resume token in the first message instead of the URL
	// (README.md, "Sessions").
	ProtoPortico = "portico.v1"
)

// DefaultSubprotocols is Evennia's WEBSOCKET_SUBPROTOCOLS order.
var DefaultSubprotocols = []string{ProtoJSON, ProtoGMCP, ProtoTerminal, ProtoV1}

// defaultConfig returns the config with every default filled in.
func defaultConfig() Config {
	return Config{
		Listen:       DefaultListen,
		Subprotocols: append([]string(nil), DefaultSubprotocols...),
		ResumeGrace:  Duration(DefaultResumeGrace),
		PingInterval: Duration(DefaultPingInterval),
		PingTimeout:  Duration(DefaultPingTimeout),
		CommandRate:  DefaultCommandRate,
		OutputBuffer: DefaultOutputBuffer,
	}
}

// Validate checks the config's values, each problem a *sdk.ConfigError
// naming its key (joined when there are several). It does not look at
// files or addresses (see Plugin.Validate).
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, sdk.KeyError(key, format, args...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not host:port", c.Listen)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls_key", "give tls_cert and tls_key both or neither")
	}
	seen := map[string]bool{}
	for _, p := range c.Subprotocols {
		if formatByName(p) == nil {
			bad("subprotocols", "unknown subprotocol %q (known: %s, %s)", p, strings.Join(DefaultSubprotocols, ", "), ProtoPortico)
		} else if seen[strings.ToLower(p)] {
			bad("subprotocols", "%q is listed twice", p)
		}
		seen[strings.ToLower(p)] = true
	}
	for _, k := range []struct {
		name string
		v    Duration
	}{{"resume_grace", c.ResumeGrace}, {"ping_interval", c.PingInterval}, {"ping_timeout", c.PingTimeout}} {
		if k.v < 0 {
			bad(k.name, "must not be negative")
		}
	}
	if c.PingInterval > 0 && c.PingTimeout <= 0 {
		bad("ping_timeout", "must be positive while ping_interval is")
	}
	if c.MaxMessageSize < 0 {
		bad("max_message_size", "must not be negative")
	}
	if c.MaxMessageSize > 0 && c.MaxMessageSize < minMessageSize {
		bad("max_message_size", "%d is below the minimum %d", c.MaxMessageSize, minMessageSize)
	}
	if c.CommandRate < 0 {
		bad("command_rate", "must not be negative")
	}
	if c.OutputBuffer <= 0 {
		bad("output_buffer", "must be positive")
	}
	for _, o := range c.AllowedOrigins {
		if o == "" || o == "*" {
			bad("allowed_origins", "%q would let any web page drive a player's session; name the hosts", o)
		}
	}
	if _, err := parseProxies(c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// minMessageSize keeps max_message_size large enough for the client's own
// control messages (client_options, websocket_close).
const minMessageSize = 256

// messageLimit returns the largest message a client may send: the
// configured size, or room for a max_input_length line four bytes per
// character plus JSON framing, or 64 KiB when the host sets no line limit.
func (c *Config) messageLimit(maxInputLength int) int {
	switch {
	case c.MaxMessageSize > 0:
		return c.MaxMessageSize
	case maxInputLength > 0:
		return 4*maxInputLength + 1024
	default:
		return 64 << 10
	}
}

// parseProxies reads trusted_proxies: single addresses or CIDR prefixes.
func parseProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, sdk.KeyError("trusted_proxies", "%q is neither an IP address nor a CIDR prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Duration is sdk.Duration: a config duration ("30s" or seconds).
type Duration = sdk.Duration
