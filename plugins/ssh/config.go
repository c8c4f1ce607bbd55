package main

import (
	"errors"
	"net"
	"path/filepath"
	"time"

	"github.com/portico-mud/portico/sdk"
)

// Config is the plugin's block in config.yaml (plugins.ssh.config). Every
// key is documented in README.md. Durations are Go duration strings
// ("30s", "5m"); "0" turns the limit off where that is allowed.
type Config struct {
	// Listen is the address to accept SSH clients on.
	Listen string `json:"listen"`
	// HostKey is a private key file (OpenSSH or PEM) to use as the host
	// key, relative to the data dir unless absolute. Empty: an ed25519 key
	// is generated once into <data_dir>/ssh/ and reused.
	HostKey string `json:"host_key"`
	// MaxLineLength is the longest input line in characters; 0 takes the
	// host's limits.max_input_length.
	MaxLineLength int `json:"max_line_length"`
	// LoginGrace bounds the time from TCP connect to a successful SSH
	// authentication (OpenSSH's LoginGraceTime): the version exchange,
	// the key exchange and the auth methods the client tries.
	LoginGrace Duration `json:"login_grace"`
	// LoginTimeout bounds the time from TCP connect to an open shell or
	// command: the handshake, authentication and the session request.
	LoginTimeout Duration `json:"login_timeout"`
	// IdleTimeout closes a connection with no SSH traffic at all for this
	// long (keepalive answers count as traffic); 0: never.
	IdleTimeout Duration `json:"idle_timeout"`
	// MaxTimeout closes every connection this long after it was opened,
	// whatever it does; 0: never.
	MaxTimeout Duration `json:"max_timeout"`
	// Keepalive is how often a keepalive request is sent to each client,
	// so that dead connections are noticed and NAT mappings stay open;
	// three unanswered in a row close the connection. 0 turns it off.
	Keepalive Duration `json:"keepalive"`
	// ExecTimeout bounds `ssh host command`: the command's output is
	// awaited this long.
	ExecTimeout Duration `json:"exec_timeout"`
	// MaxConnections bounds open TCP connections; more are refused.
	MaxConnections int `json:"max_connections"`
	// MaxSessions bounds sessions (shells or commands) open at once on one
	// connection, like OpenSSH's MaxSessions.
	MaxSessions int `json:"max_sessions"`
}

// Defaults.
const (
	// DefaultListen is the SSH port in Portico's default config. (Evennia
	// uses 4004; Portico keeps 4001 for SSH next to telnet's 4000.)
	DefaultListen = ":4001"
	// DefaultLoginGrace is the time a client has to authenticate: enough
	// for a client to try its keys and a player to type a password at the
	// SSH prompt, shorter than OpenSSH's 120 s because idle
	// unauthenticated connections are what a flood is made of.
	DefaultLoginGrace = 20 * time.Second
	// DefaultLoginTimeout is the time a client has to log in and open a
	// session.
	DefaultLoginTimeout = 30 * time.Second
	// DefaultKeepalive is how often clients are probed.
	DefaultKeepalive = 30 * time.Second
	// DefaultExecTimeout bounds a command run as `ssh host command`.
	DefaultExecTimeout = 30 * time.Second
	// DefaultMaxConnections bounds open connections.
	DefaultMaxConnections = 1000
	// DefaultMaxSessions is OpenSSH's MaxSessions default.
	DefaultMaxSessions = 10
	// hostKeyDir is the folder under the data dir for the generated key.
	hostKeyDir = "ssh"
	// hostKeyFile is the generated key's file name.
	hostKeyFile = "ssh_host_ed25519_key"
)

// defaultConfig returns the config with every default filled in.
func defaultConfig() Config {
	return Config{
		Listen:         DefaultListen,
		LoginGrace:     Duration(DefaultLoginGrace),
		LoginTimeout:   Duration(DefaultLoginTimeout),
		Keepalive:      Duration(DefaultKeepalive),
		ExecTimeout:    Duration(DefaultExecTimeout),
		MaxConnections: DefaultMaxConnections,
		MaxSessions:    DefaultMaxSessions,
	}
}

// Validate checks the config's values, each problem a *sdk.ConfigError
// naming its key (joined when there are several). It does not look at
// files or addresses (see Plugin.Validate).
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, sdk.KeyError("listen", "%q is not host:port", c.Listen))
	}
	if c.MaxLineLength < 0 {
		errs = append(errs, sdk.KeyError("max_line_length", "must not be negative"))
	}
	if c.MaxConnections < 1 {
		errs = append(errs, sdk.KeyError("max_connections", "must be at least 1"))
	}
	if c.MaxSessions < 1 {
		errs = append(errs, sdk.KeyError("max_sessions", "must be at least 1"))
	}
	for _, k := range []struct {
		name string
		v    Duration
	}{{"login_grace", c.LoginGrace}, {"login_timeout", c.LoginTimeout}, {"exec_timeout", c.ExecTimeout}} {
		if k.v <= 0 {
			errs = append(errs, sdk.KeyError(k.name, "must be more than 0"))
		}
	}
	return errors.Join(errs...)
}

// hostKeyPath returns the host key file: host_key (relative to the data
// dir) if set, else the generated key's place in the data dir.
func (c *Config) hostKeyPath(dataDir string) (path string, generate bool) {
	if c.HostKey != "" {
		if filepath.IsAbs(c.HostKey) {
			return c.HostKey, false
		}
		return filepath.Join(dataDir, c.HostKey), false
	}
	return filepath.Join(dataDir, hostKeyDir, hostKeyFile), true
}
