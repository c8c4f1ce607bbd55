// Package config loads the host's configuration: config.yaml plus PORTICO_*
// environment overrides, over the defaults of Default, into one typed,
// validated struct. It uses viper to load only; watching the file is the
// host's job, done by building a fresh Config and swapping it whole.
//
// Adding a host key is: a field with a doc comment and tags (below), its
// default in Default, its use, and its entry in config.yaml. Loading,
// environment overrides, validation, the live-edit rule and `portico config
// check` all read the struct.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/logging"
)

// Config is the host's whole configuration.
//
// Every host key is a field of Server, Limits (contract.Limits, the one
// list of limits that the host and the plugins share) or Log. Its doc comment is
// also the comment above it in config.yaml, and ends with "Default: X."
// (TestDocCommentsMatchConfigYAML keeps both in step). Its tags:
//
//   - mapstructure:"name": the key's name in config.yaml (and, upper-cased
//     after PORTICO_SECTION_, in the environment).
//   - live:"true": a running host applies a change of the key made in
//     config.yaml. A live edit that changes a key without it is refused as
//     a whole, naming the key (NATS's rule), so that a new key is safe
//     until someone makes it live.
//   - min:"…", max:"…": bounds, written as the key's values are. Numbers
//     and durations are never negative unless min says so.
//   - required:"true": a string that must not be empty.
type Config struct {
	// Path is the file it was loaded from (absolute). Relative paths in the
	// file are resolved against its directory.
	Path   string          `mapstructure:"-"`
	Server Server          `mapstructure:"server"`
	Limits contract.Limits `mapstructure:"limits"`
	Log    Log             `mapstructure:"log"`
	// Plugins are the plugins.<name> blocks, by name. A changed block is
	// always applied live, by restarting that plugin (core/plugins).
	Plugins map[string]Plugin `mapstructure:"plugins"`
	// Game is the game's own block (game:), as given: the host decodes it
	// strictly into the struct the game registers (DecodeGame). A change
	// takes a reload or a restart.
	Game map[string]any `mapstructure:"game"`

	// file (as given to Load), lines (each key's line in it) and sources
	// (the variable that set each key set by the environment) locate a
	// key's value for messages (Problem) and `portico config check`.
	file    string
	lines   map[string]int
	sources map[string]string
	// game is the game's settings as DecodeGame last decoded them, for
	// `portico config check`.
	game any
}

// Server holds the game-wide settings.
type Server struct {
	// Shown on the connection screen and to plugins. Default: Portico.
	Name string `mapstructure:"name" live:"true" required:"true"`
	// Where the database (portico.db), logs (logs/) and run files (run/: the
	// control socket, pid file and plugin sockets, mode 0700) live. Needs a
	// host restart to change. Default: data.
	DataDir string `mapstructure:"data_dir" required:"true"`
	// The database. Empty: SQLite, in data_dir/portico.db. A PostgreSQL URL
	// (postgres://USER:PASSWORD@HOST:5432/DBNAME?sslmode=verify-full) keeps
	// accounts and the rest in PostgreSQL instead, where it can be
	// replicated; the database must exist, owned by USER. `portico migrate
	// --to URL` copies an SQLite database into a new one. The password is
	// never printed or logged (set it here or with PORTICO_SERVER_DATABASE).
	// Needs a host restart to change. Default: "".
	Database string `mapstructure:"database"`
	// Evennia's MULTISESSION_MODE. 0: logging in disconnects the account's
	// other sessions ("Logged in from elsewhere. Disconnecting."). 1: an
	// account may have many sessions, all puppeting its character. 2: one
	// session per character (`ic` takes over). 3: many sessions, characters
	// shared. Default: 0.
	MultisessionMode int `mapstructure:"multisession_mode" live:"true" max:"3"`
	// Drop sessions idle longer than this (a Go duration such as 30m); 0 turns
	// the idle timeout off. Typing "idle" counts as activity. Default: 0.
	IdleTimeout time.Duration `mapstructure:"idle_timeout" live:"true"`
	// When the host dies (a crash, SIGKILL), plugins keep their players
	// connected, tell them the server is restarting and hold their input for
	// this long (at least 1s), waiting for a new host to reattach; then they
	// close and exit. A live edit reaches running plugins at once.
	// Default: 60s.
	ReattachGrace time.Duration `mapstructure:"reattach_grace" live:"true" min:"1s"`
	// Argon2id password hashing: memory in KiB. 0 means the default (19456
	// KiB: OWASP's recommendation). Needs a host restart to change.
	// Default: 0.
	Argon2MemoryKiB uint32 `mapstructure:"argon2_memory_kib"`
	// Argon2id password hashing: passes. 0 means the default (2: OWASP's
	// recommendation). Needs a host restart to change. Default: 0.
	Argon2Time uint32 `mapstructure:"argon2_time"`
	// Mutual TLS on the host-plugin link (go-plugin's AutoMTLS) for plugins
	// launched from now on. The host keeps each plugin's key pair in its
	// record under run/records/, so reloads and a restart after a crash still
	// reattach. A change applies when a plugin is next launched.
	// Default: false.
	PluginMTLS bool `mapstructure:"plugin_mtls" live:"true"`
	// Let `who` list the accounts online before login, as Evennia does. Off,
	// a visitor is told `who` works once logged in, and learns no account
	// names from it. Default: false.
	WhoBeforeLogin bool `mapstructure:"who_before_login" live:"true"`
	// Where Prometheus scrapes the host's metrics (host:port; served at
	// /metrics): sessions, logins, commands, the plugins' links and states,
	// throttles, reloads, bots, and Go's runtime. Empty serves none. Keep
	// it on loopback or a private network: anyone who can reach it sees
	// the figures. Needs a host restart to change. Default: "".
	MetricsListen string `mapstructure:"metrics_listen"`
	// How often the host pings each plugin on its data link. A plugin that
	// does not answer within plugin_ping_timeout is shown `unresponsive` in
	// `portico status`, its sessions are dropped and it is ended and
	// restarted, as a crashed one is. Default: 5s.
	PluginPingInterval time.Duration `mapstructure:"plugin_ping_interval" live:"true" min:"100ms"`
	// How long a plugin has to answer a ping, and the longest its data link
	// may take no output at all while the host has some for it, before it
	// counts as unresponsive. Default: 10s.
	PluginPingTimeout time.Duration `mapstructure:"plugin_ping_timeout" live:"true" min:"100ms"`
	// Output the host holds for one plugin that does not read it, in MiB;
	// past it the plugin counts as unresponsive (its output is dropped, it
	// is ended and restarted), so that a stuck plugin cannot grow the host's
	// memory. Default: 64.
	PluginOutboxMiB int `mapstructure:"plugin_outbox_mib" live:"true" min:"1"`
	// Where the host accepts remote plugins (host:port, such as
	// 0.0.0.0:7400): plugins.<name> blocks with remote: true, started by
	// the operator on other machines, dial it over TCP with mutual TLS
	// 1.3. Only a plugin whose certificate the host's own CA issued
	// (`portico portal issue NAME --out DIR`, kept in <data_dir>/pki) is
	// accepted, as the block its certificate names. Empty accepts none.
	// Needs a host restart to change. Default: "".
	PortalListen string `mapstructure:"portal_listen"`
}

// Log says how the host and its plugins log. The host logs to stderr and
// <data_dir>/logs/portico.log, each plugin to <data_dir>/logs/<name>.log,
// all in one format. A change applies to the host at its next reload or
// start, and to a plugin when it is next launched.
type Log struct {
	// The least important messages logged: debug, info, warn or error.
	// Needs a host restart to change (a reload will do). Default: info.
	Level string `mapstructure:"level" required:"true"`
	// text (key=value pairs, for people) or json (one object a line, for
	// a log collector). Needs a host restart to change (a reload will do).
	// Default: text.
	Format string `mapstructure:"format" required:"true"`
	// Rotate a log file when it would grow past this many megabytes,
	// keeping max_files old ones beside it, named with the time they were
	// rotated; 0 never rotates (for journald or logrotate: see the README).
	// Needs a host restart to change (a reload will do). Default: 100.
	MaxSizeMB int `mapstructure:"max_size_mb"`
	// Rotated log files kept per log; 0 keeps them all. Needs a host
	// restart to change (a reload will do). Default: 5.
	MaxFiles int `mapstructure:"max_files"`
}

// Options returns the log options as sdk/logging takes them.
func (l Log) Options() logging.Options {
	return logging.Options{Level: l.Level, Format: l.Format, MaxSizeMB: l.MaxSizeMB, MaxFiles: l.MaxFiles}
}

// Plugin is one protocol plugin's entry under plugins.<name>.
type Plugin struct {
	// Name is the block's name (the map key).
	Name string `mapstructure:"-"`
	// Enabled runs the plugin.
	Enabled bool `mapstructure:"enabled"`
	// Path is the plugin binary; empty means portico-<protocol> beside the
	// host binary (see Protocol). A remote plugin has none.
	Path string `mapstructure:"path"`
	// Remote says the plugin runs on another machine, started there by the
	// operator with --connect HOST:PORT --identity DIR, and dials the
	// host's server.portal_listen: the host never launches it, so path and
	// sha256 are refused beside it. Its certificate's name is this block's
	// name, and this block (config included) is what the host sends it in
	// Configure. Default: false.
	Remote bool `mapstructure:"remote"`
	// Protocol is which protocol plugin runs this block, so that one
	// protocol can run as several blocks (telnet-eu and telnet-us, both
	// protocol: telnet). For a local block it defaults to the block's name
	// and names the default binary, portico-<protocol>. For a remote block
	// it is optional: when set, the host refuses a plugin that reports
	// another protocol. Default: the block's name (local), none (remote).
	Protocol string `mapstructure:"protocol"`
	// SHA256, when set, is the SHA-256 digest the plugin binary must have:
	// a launch of a binary with another digest is refused (go-plugin's
	// SecureConfig). It is checked at launch only: a reattach is to a
	// process already checked when it was launched.
	SHA256 Digest `mapstructure:"sha256"`
	// TrustKeyLogins lets the plugin log sessions in with an SSH public key
	// alone. The host cannot see a key's proof of possession, only the
	// public key: a plugin trusted here must have checked the client's
	// signature itself (the SSH plugin does). Passwords are accepted from
	// any plugin, because the host checks those itself. Default: false.
	TrustKeyLogins bool `mapstructure:"trust_key_logins"`
	// Config is the block handed to the plugin's Configure. Its keys are the
	// plugin's business (viper lower-cases them).
	Config map[string]any `mapstructure:"config"`
}

// Digest is a SHA-256 digest, written in config.yaml as sha256sum prints it
// (64 hex digits, in quotes).
type Digest []byte

// Default returns the configuration with every key at its default. It is
// the one place defaults are written: Load starts from it, and each key's
// doc comment ends with the same default (a test checks).
func Default() Config {
	return Config{
		Server: Server{
			Name:          "Portico",
			DataDir:       "data",
			ReattachGrace: 60 * time.Second,
			// Well above a busy plugin's pause (a reload's sync of
			// every session, a GC on a loaded machine), well below the
			// minute players would wait on a stuck one.
			PluginPingInterval: 5 * time.Second,
			PluginPingTimeout:  10 * time.Second,
			// A reload's sync of 10,000 sessions is a few MiB.
			PluginOutboxMiB: 64,
		},
		// Evennia's values where Evennia has them.
		Limits: contract.Limits{
			// Evennia's MAX_CHAR_LIMIT.
			MaxInputLength: 6000,
			// Evennia's MAX_CONNECTION_RATE and MAX_COMMAND_RATE.
			ConnectionRate: 2,
			CommandRate:    80,
			// Ergo-like: a few dozen connections per address is plenty for
			// a household or a NAT, and stops one host from filling the
			// server.
			ConnectionsPerIP: 32,
			// Long enough to ride out a short burst from one address,
			// short enough that nobody waits on a flood.
			ConnectionQueueWait: 10 * time.Second,
			// Evennia's throttles: 5 failed logins in 5 minutes, 2
			// accounts created per 10 minutes, per address.
			LoginFailures:         5,
			LoginFailureWindow:    5 * time.Minute,
			AccountCreations:      2,
			AccountCreationWindow: 10 * time.Minute,
			// An address shared by several players (a NAT) may fail a few
			// times each before all of them are refused.
			AddressLoginFailures: 20,
			// Across all addresses: a distributed guesser is slowed, the
			// owner is only made to wait, never locked out.
			AccountLoginFailures:      50,
			AccountLoginFailureWindow: time.Hour,
			// Every `create` counts, whatever its outcome: cheap to check,
			// and it bounds name probing and hashing.
			CreateAttempts:      10,
			CreateAttemptWindow: 10 * time.Minute,
			// OWASP's and Django's minimum.
			PasswordMinLength: 8,
		},
		Log:     Log{Level: "info", Format: logging.FormatText, MaxSizeMB: 100, MaxFiles: 5},
		Plugins: map[string]Plugin{},
	}
}

// EnabledPlugins returns the enabled plugins sorted by name.
func (c *Config) EnabledPlugins() []Plugin {
	var out []Plugin
	for _, p := range c.Plugins {
		if p.Enabled {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ProtocolName returns the protocol block p runs: its protocol key, or,
// for a local block without one, the block's name. A remote block without
// one gives "": the host takes whatever protocol the plugin reports.
func (p Plugin) ProtocolName() string {
	if p.Protocol != "" || p.Remote {
		return p.Protocol
	}
	return p.Name
}

// PluginPath returns where plugin p's binary is: its path, or
// portico-<protocol> beside the running host binary. A remote plugin has
// none: the host does not launch it.
func (c *Config) PluginPath(p Plugin) (string, error) {
	if p.Remote {
		return "", fmt.Errorf("config: plugins.%s is remote: the host does not launch it, so it has no binary", p.Name)
	}
	if p.Path != "" {
		return p.Path, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("config: plugins.%s.path: find host binary: %w", p.Name, err)
	}
	return filepath.Join(filepath.Dir(exe), "portico-"+p.ProtocolName()), nil
}

// PKIDir is the host's certificate authority for remote plugins
// (core/pki; mode 0700).
func (c *Config) PKIDir() string { return filepath.Join(c.Server.DataDir, "pki") }

// RunDir is where the host keeps its control socket, pid file and plugin
// sockets (mode 0700).
func (c *Config) RunDir() string { return filepath.Join(c.Server.DataDir, "run") }

// DBPath is the SQLite database.
func (c *Config) DBPath() string { return filepath.Join(c.Server.DataDir, "portico.db") }

// StoreLocation is what the host opens its store at (store.Open): the
// PostgreSQL URL of server.database when it is set, else the SQLite
// database DBPath.
func (c *Config) StoreLocation() string {
	if c.Server.Database != "" {
		return c.Server.Database
	}
	return c.DBPath()
}

// LogDir holds the host's and plugins' logs.
func (c *Config) LogDir() string { return filepath.Join(c.Server.DataDir, "logs") }

// ControlSocket is the path of the control socket.
func (c *Config) ControlSocket() string { return filepath.Join(c.RunDir(), "control.sock") }

func resolve(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}
