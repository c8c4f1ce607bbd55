// Package config loads the host's configuration: config.yaml plus PORTICO_*
// environment overrides, into a typed, validated struct. It uses viper to
// load only; watching the file is the host's job, done by building a fresh
// Config and swapping it whole.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// Config is the host's whole configuration.
type Config struct {
	// Path is the file it was loaded from (absolute). Relative paths in the
	// file are resolved against its directory.
	Path    string
	Server  Server
	Limits  Limits
	Plugins map[string]Plugin
}

// Server holds the game-wide settings.
type Server struct {
	// Name is shown on the connection screen and in MSSP.
	Name string
	// DataDir holds the database, logs and run files (absolute after Load).
	DataDir string
	// MultisessionMode is Evennia's MULTISESSION_MODE: 0 (a new login
	// disconnects the account's other sessions), 1 (many sessions sharing
	// the account's character), 2 (one session per character) or 3 (many
	// sessions, characters shared).
	MultisessionMode int
	// IdleTimeout drops sessions idle longer (0: never).
	IdleTimeout time.Duration
	// ReattachGrace is how long plugins keep their clients when the host
	// dies, waiting for a new host to reattach.
	ReattachGrace time.Duration
	// Argon2MemoryKiB and Argon2Time tune password hashing (0: defaults).
	Argon2MemoryKiB uint32
	Argon2Time      uint32
	// PluginMTLS puts go-plugin's AutoMTLS on the host–plugin link of
	// every plugin launched from now on. The host keeps each plugin's key
	// pair in its reattach record, so that a reloaded host (or one started
	// after a crash) can still reattach to it.
	PluginMTLS bool
	// WhoBeforeLogin lets `who` list the online accounts before login
	// (Evennia does); off, a visitor learns no account names from it.
	WhoBeforeLogin bool
}

// Limits bounds what clients may do. 0 turns a limit off.
type Limits struct {
	// MaxInputLength is the longest line or message, in characters.
	MaxInputLength int
	// ConnectionRate is new connections per second a plugin accepts;
	// excess connections wait in a queue and are told so.
	ConnectionRate int
	// ConnectionsPerIP bounds the open connections from one address.
	ConnectionsPerIP int
	// CommandRate is commands per second one session may send; excess is
	// dropped with a message.
	CommandRate int
	// LoginFailures within LoginFailureWindow to one account from one
	// address block further logins to that account from that address (not
	// from the owner's other addresses).
	LoginFailures      int
	LoginFailureWindow time.Duration
	// AddressLoginFailures within LoginFailureWindow, whatever the
	// accounts, block every login from the address.
	AddressLoginFailures int
	// AccountLoginFailures within AccountLoginFailureWindow to one account
	// from all addresses together make each further login to it wait, a
	// little longer each time, instead of locking the owner out.
	AccountLoginFailures      int
	AccountLoginFailureWindow time.Duration
	// AccountCreations within AccountCreationWindow block further account
	// creation from an address.
	AccountCreations      int
	AccountCreationWindow time.Duration
	// CreateAttempts within CreateAttemptWindow block further `create`
	// commands from an address, whatever their outcome (checked first,
	// before anything costly).
	CreateAttempts      int
	CreateAttemptWindow time.Duration
	// PasswordMinLength is the shortest password an account created over
	// the network may have.
	PasswordMinLength int
}

// Plugin is one protocol plugin's entry under plugins.<name>.
type Plugin struct {
	Name    string
	Enabled bool
	// Path is the plugin binary; empty means bin/portico-<name> beside the
	// host binary.
	Path string
	// Config is the block handed to the plugin's Configure.
	Config map[string]any
	// SHA256, when set, is the SHA-256 digest the plugin binary must have:
	// a launch of a binary with another digest is refused (go-plugin's
	// SecureConfig). It is checked at launch only: a reattach is to a
	// process already checked when it was launched.
	SHA256 []byte
}

// Defaults as Evennia has them where Evennia has them.
const (
	DefaultServerName     = "Portico"
	DefaultDataDir        = "data"
	DefaultMaxInputLength = 6000
	// Evennia's MAX_CONNECTION_RATE and MAX_COMMAND_RATE.
	DefaultConnectionRate = 2
	DefaultCommandRate    = 80
	// Ergo-like: a few dozen connections per address is plenty for a
	// household or a NAT, and stops one host from filling the server.
	DefaultConnectionsPerIP = 32
	// Evennia's throttles: 5 failed logins in 5 minutes, 2 accounts
	// created per 10 minutes, per address.
	DefaultLoginFailures         = 5
	DefaultLoginFailureWindow    = 5 * time.Minute
	DefaultAccountCreations      = 2
	DefaultAccountCreationWindow = 10 * time.Minute
	// An address shared by several players (a NAT) may fail a few times
	// each before all of them are refused.
	DefaultAddressLoginFailures = 20
	// Across all addresses: a distributed guesser is slowed, the owner
	// is only made to wait.
	DefaultAccountLoginFailures      = 50
	DefaultAccountLoginFailureWindow = time.Hour
	// Every `create`, taken names and typos included: cheap to count,
	// and it bounds how fast names can be probed.
	DefaultCreateAttempts      = 10
	DefaultCreateAttemptWindow = 10 * time.Minute
	// DefaultPasswordMinLength follows OWASP's and Django's minimum.
	DefaultPasswordMinLength = 8
	DefaultReattachGrace     = 60 * time.Second
)

var pluginName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Load reads path (config.yaml) and the PORTICO_* environment into a
// validated Config. Errors name the offending key.
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	v := viper.New()
	v.SetConfigFile(abs)
	v.SetConfigType("yaml")
	v.SetEnvPrefix("PORTICO")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	v.SetDefault("server.name", DefaultServerName)
	v.SetDefault("server.data_dir", DefaultDataDir)
	v.SetDefault("server.multisession_mode", 0)
	v.SetDefault("server.idle_timeout", "0s")
	v.SetDefault("server.reattach_grace", DefaultReattachGrace.String())
	v.SetDefault("server.argon2_memory_kib", 0)
	v.SetDefault("server.argon2_time", 0)
	v.SetDefault("server.plugin_mtls", false)
	v.SetDefault("server.who_before_login", false)
	v.SetDefault("limits.max_input_length", DefaultMaxInputLength)
	v.SetDefault("limits.connection_rate", DefaultConnectionRate)
	v.SetDefault("limits.connections_per_ip", DefaultConnectionsPerIP)
	v.SetDefault("limits.command_rate", DefaultCommandRate)
	v.SetDefault("limits.login_failures", DefaultLoginFailures)
	v.SetDefault("limits.login_failure_window", DefaultLoginFailureWindow.String())
	v.SetDefault("limits.account_creations", DefaultAccountCreations)
	v.SetDefault("limits.account_creation_window", DefaultAccountCreationWindow.String())
	v.SetDefault("limits.address_login_failures", DefaultAddressLoginFailures)
	v.SetDefault("limits.account_login_failures", DefaultAccountLoginFailures)
	v.SetDefault("limits.account_login_failure_window", DefaultAccountLoginFailureWindow.String())
	v.SetDefault("limits.create_attempts", DefaultCreateAttempts)
	v.SetDefault("limits.create_attempt_window", DefaultCreateAttemptWindow.String())
	v.SetDefault("limits.password_min_length", DefaultPasswordMinLength)
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("config: read %s: %w", abs, err)
	}
	if err := checkKnownKeys(v); err != nil {
		return nil, fmt.Errorf("config: %s: %w", abs, err)
	}
	c := &Config{Path: abs, Plugins: map[string]Plugin{}}
	base := filepath.Dir(abs)
	var errs []error
	c.Server.Name = v.GetString("server.name")
	c.Server.DataDir = resolve(base, v.GetString("server.data_dir"))
	if c.Server.MultisessionMode, err = intKey(v, "server.multisession_mode"); err != nil {
		errs = append(errs, err)
	}
	if c.Server.IdleTimeout, err = durationKey(v, "server.idle_timeout"); err != nil {
		errs = append(errs, err)
	}
	if c.Server.ReattachGrace, err = durationKey(v, "server.reattach_grace"); err != nil {
		errs = append(errs, err)
	}
	if n, err := intKey(v, "server.argon2_memory_kib"); err != nil {
		errs = append(errs, err)
	} else {
		c.Server.Argon2MemoryKiB = uint32(n)
	}
	if n, err := intKey(v, "server.argon2_time"); err != nil {
		errs = append(errs, err)
	} else {
		c.Server.Argon2Time = uint32(n)
	}
	if c.Server.PluginMTLS, err = boolKey(v, "server.plugin_mtls"); err != nil {
		errs = append(errs, err)
	}
	if c.Server.WhoBeforeLogin, err = boolKey(v, "server.who_before_login"); err != nil {
		errs = append(errs, err)
	}
	for key, dst := range map[string]*int{
		"limits.max_input_length":    &c.Limits.MaxInputLength,
		"limits.connection_rate":     &c.Limits.ConnectionRate,
		"limits.connections_per_ip":  &c.Limits.ConnectionsPerIP,
		"limits.command_rate":        &c.Limits.CommandRate,
		"limits.login_failures":      &c.Limits.LoginFailures,
		"limits.account_creations":   &c.Limits.AccountCreations,
		"limits.password_min_length": &c.Limits.PasswordMinLength,

		"limits.address_login_failures": &c.Limits.AddressLoginFailures,
		"limits.account_login_failures": &c.Limits.AccountLoginFailures,
		"limits.create_attempts":        &c.Limits.CreateAttempts,
	} {
		if *dst, err = intKey(v, key); err != nil {
			errs = append(errs, err)
		}
	}
	for key, dst := range map[string]*time.Duration{
		"limits.login_failure_window":    &c.Limits.LoginFailureWindow,
		"limits.account_creation_window": &c.Limits.AccountCreationWindow,

		"limits.account_login_failure_window": &c.Limits.AccountLoginFailureWindow,
		"limits.create_attempt_window":        &c.Limits.CreateAttemptWindow,
	} {
		if *dst, err = durationKey(v, key); err != nil {
			errs = append(errs, err)
		}
	}
	plugins, _ := v.Get("plugins").(map[string]any)
	for name := range plugins {
		key := "plugins." + name
		p := Plugin{Name: name}
		if !pluginName.MatchString(name) {
			errs = append(errs, fmt.Errorf("%s: plugin names are lower-case letters, digits, - and _", key))
			continue
		}
		if p.Enabled, err = boolKey(v, key+".enabled"); err != nil {
			errs = append(errs, err)
		}
		p.Path = v.GetString(key + ".path")
		if p.Path != "" {
			p.Path = resolve(base, p.Path)
		}
		if p.SHA256, err = sha256Key(v, key+".sha256"); err != nil {
			errs = append(errs, err)
		}
		if raw := v.Get(key + ".config"); raw != nil {
			m, ok := raw.(map[string]any)
			if !ok {
				errs = append(errs, fmt.Errorf("%s.config: want a mapping, got %T", key, raw))
			}
			p.Config = m
		}
		if p.Config == nil {
			p.Config = map[string]any{}
		}
		c.Plugins[name] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("config: %s: %w", abs, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config: %s: %w", abs, err)
	}
	return c, nil
}

// Validate checks values that parse but make no sense, naming the key.
func (c *Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Server.Name) == "" {
		errs = append(errs, errors.New("server.name: must not be empty"))
	}
	if c.Server.DataDir == "" {
		errs = append(errs, errors.New("server.data_dir: must not be empty"))
	}
	if c.Server.MultisessionMode < 0 || c.Server.MultisessionMode > 3 {
		errs = append(errs, fmt.Errorf("server.multisession_mode: %d is not supported (0 to 3)", c.Server.MultisessionMode))
	}
	if c.Server.IdleTimeout < 0 {
		errs = append(errs, errors.New("server.idle_timeout: must not be negative"))
	}
	if c.Server.ReattachGrace < time.Second {
		errs = append(errs, errors.New("server.reattach_grace: must be at least 1s"))
	}
	for key, n := range map[string]int{
		"limits.max_input_length": c.Limits.MaxInputLength, "limits.connection_rate": c.Limits.ConnectionRate,
		"limits.connections_per_ip": c.Limits.ConnectionsPerIP, "limits.command_rate": c.Limits.CommandRate,
		"limits.login_failures": c.Limits.LoginFailures, "limits.account_creations": c.Limits.AccountCreations,
		"limits.password_min_length": c.Limits.PasswordMinLength,

		"limits.address_login_failures": c.Limits.AddressLoginFailures,
		"limits.account_login_failures": c.Limits.AccountLoginFailures,
		"limits.create_attempts":        c.Limits.CreateAttempts,
	} {
		if n < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", key))
		}
	}
	if c.Limits.LoginFailureWindow < 0 || c.Limits.AccountCreationWindow < 0 ||
		c.Limits.AccountLoginFailureWindow < 0 || c.Limits.CreateAttemptWindow < 0 {
		errs = append(errs, errors.New("limits.*_window: must not be negative"))
	}
	if c.Limits.PasswordMinLength > 128 {
		errs = append(errs, errors.New("limits.password_min_length: at most 128"))
	}
	return errors.Join(errs...)
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

// PluginPath returns where plugin p's binary is: its path, or
// portico-<name> beside the running host binary.
func (c *Config) PluginPath(p Plugin) (string, error) {
	if p.Path != "" {
		return p.Path, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("config: plugins.%s.path: find host binary: %w", p.Name, err)
	}
	return filepath.Join(filepath.Dir(exe), "portico-"+p.Name), nil
}

// RunDir is where the host keeps its control socket, pid file and plugin
// sockets (mode 0700).
func (c *Config) RunDir() string { return filepath.Join(c.Server.DataDir, "run") }

// DBPath is the SQLite database.
func (c *Config) DBPath() string { return filepath.Join(c.Server.DataDir, "portico.db") }

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

var knownTop = map[string]map[string]bool{
	"server": {"name": true, "data_dir": true, "multisession_mode": true, "idle_timeout": true, "reattach_grace": true,
		"argon2_memory_kib": true, "argon2_time": true, "plugin_mtls": true,
		"who_before_login": true},
	"limits": {"max_input_length": true, "connection_rate": true, "connections_per_ip": true, "command_rate": true,
		"login_failures": true, "login_failure_window": true, "account_creations": true, "account_creation_window": true,
		"password_min_length": true,

		"address_login_failures": true, "account_login_failures": true, "account_login_failure_window": true,
		"create_attempts": true, "create_attempt_window": true},
}

// checkKnownKeys rejects keys the host does not know, so that a typo is an
// error instead of a setting silently ignored.
func checkKnownKeys(v *viper.Viper) error {
	var errs []error
	for _, key := range v.AllKeys() {
		parts := strings.Split(key, ".")
		switch parts[0] {
		case "server", "limits":
			if len(parts) != 2 || !knownTop[parts[0]][parts[1]] {
				errs = append(errs, fmt.Errorf("%s: unknown key", key))
			}
		case "plugins":
			if len(parts) < 3 {
				errs = append(errs, fmt.Errorf("%s: want plugins.<name>.{enabled,path,sha256,config}", key))
				continue
			}
			switch parts[2] {
			case "enabled", "path", "sha256":
				if len(parts) != 3 {
					errs = append(errs, fmt.Errorf("%s: unknown key", key))
				}
			case "config":
			default:
				errs = append(errs, fmt.Errorf("%s: unknown key (want enabled, path, sha256 or config)", key))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: unknown key", key))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

func intKey(v *viper.Viper, key string) (int, error) {
	switch x := v.Get(key).(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case float64:
		if x == float64(int(x)) {
			return int(x), nil
		}
	case string:
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(x), "%d", &n); err == nil && fmt.Sprint(n) == strings.TrimSpace(x) {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s: want a whole number, got %v", key, v.Get(key))
}

func boolKey(v *viper.Viper, key string) (bool, error) {
	switch x := v.Get(key).(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "yes", "on", "1":
			return true, nil
		case "false", "no", "off", "0", "":
			return false, nil
		}
	}
	return false, fmt.Errorf("%s: want true or false, got %v", key, v.Get(key))
}

func durationKey(v *viper.Viper, key string) (time.Duration, error) {
	switch x := v.Get(key).(type) {
	case int:
		if x == 0 {
			return 0, nil
		}
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(x))
		if err == nil {
			return d, nil
		}
	case time.Duration:
		return x, nil
	}
	return 0, fmt.Errorf("%s: want a duration such as 30m, got %v", key, v.Get(key))
}

// sha256Key reads a hex SHA-256 digest (64 hex digits, as sha256sum prints
// it); an unset or empty key gives nil.
func sha256Key(v *viper.Viper, key string) ([]byte, error) {
	raw := v.Get(key)
	if raw == nil {
		return nil, nil
	}
	s, ok := raw.(string)
	if !ok {
		// YAML reads an unquoted digest made only of digits as a number.
		return nil, fmt.Errorf("%s: want 64 hex digits (sha256sum's output) in quotes, got %v", key, raw)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	sum, err := hex.DecodeString(s)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("%s: want 64 hex digits (sha256sum's output), got %q", key, s)
	}
	return sum, nil
}
