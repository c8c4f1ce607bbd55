package contract

import "time"

// Limits bound what clients may do: config.yaml's limits block. The host
// enforces some, the plugins the others (connections, line length), and
// every plugin is handed them at Configure. 0 turns a limit off.
//
// This one struct is the list of limits for the host's config, its session
// layer and the plugins. Each field's doc comment is also the comment above
// its key in config.yaml (core/config's tests keep the two in step, and
// check the "Default: X." that ends it). The tags are core/config's: the
// key's name, and live:"true" for a key a running host takes from an edited
// config.yaml (see core/config.Config for the others).
type Limits struct {
	// Longest line or message a client may send, in characters (Evennia's
	// MAX_CHAR_LIMIT). Longer input is refused with a message. A live edit
	// reaches running plugins at once. Default: 6000.
	MaxInputLength int `mapstructure:"max_input_length" live:"true"`
	// New connections per second each plugin accepts from one address (an
	// IPv4 address, an IPv6 /64; Evennia's MAX_CONNECTION_RATE, which is for
	// all addresses together); more wait in that address's own queue and are
	// told how long, so a flood from some addresses never delays others.
	// A live edit reaches running plugins at once. Default: 2.
	ConnectionRate int `mapstructure:"connection_rate" live:"true"`
	// Open connections from one address (IPv4 address, IPv6 /64). A live
	// edit reaches running plugins at once. Default: 32.
	ConnectionsPerIP int `mapstructure:"connections_per_ip" live:"true"`
	// The longest a connection may wait in its address's queue; one whose
	// wait would be longer is refused with a message, and a client that
	// hangs up while queued gives its place up at once. 0 = no queue: a
	// connection that would have to wait is refused. A live edit reaches
	// running plugins at once. Default: 10s.
	ConnectionQueueWait time.Duration `mapstructure:"connection_queue_wait" live:"true"`
	// Commands per second per session (Evennia's MAX_COMMAND_RATE); excess is
	// dropped with a message. Bots are exempt. Default: 80.
	CommandRate int `mapstructure:"command_rate" live:"true"`
	// Failed logins to one account from one address within
	// login_failure_window before that account is refused from that address
	// (checked before the password; the owner elsewhere is not affected).
	// Default: 5.
	LoginFailures int `mapstructure:"login_failures" live:"true"`
	// The window login_failures and address_login_failures count in.
	// Default: 5m.
	LoginFailureWindow time.Duration `mapstructure:"login_failure_window" live:"true"`
	// Failed logins from one address, whatever the accounts, within
	// login_failure_window before every login from it is refused.
	// Default: 20.
	AddressLoginFailures int `mapstructure:"address_login_failures" live:"true"`
	// Failed logins to one account from all addresses together within
	// account_login_failure_window; past it each login to the account waits
	// (1s, doubling to 30s) instead of being refused, so the owner is
	// slowed, never locked out. Default: 50.
	AccountLoginFailures int `mapstructure:"account_login_failures" live:"true"`
	// The window account_login_failures counts in. Default: 1h.
	AccountLoginFailureWindow time.Duration `mapstructure:"account_login_failure_window" live:"true"`
	// Accounts created from one address within account_creation_window
	// before further creation is refused. Default: 2.
	AccountCreations int `mapstructure:"account_creations" live:"true"`
	// The window account_creations counts in. Default: 10m.
	AccountCreationWindow time.Duration `mapstructure:"account_creation_window" live:"true"`
	// `create` commands from one address within create_attempt_window,
	// whatever their outcome (a taken name, a typo); checked first, before
	// anything costly. Default: 10.
	CreateAttempts int `mapstructure:"create_attempts" live:"true"`
	// The window create_attempts counts in. Default: 10m.
	CreateAttemptWindow time.Duration `mapstructure:"create_attempt_window" live:"true"`
	// Shortest password for an account created in the game (at most 128).
	// Default: 8.
	PasswordMinLength int `mapstructure:"password_min_length" live:"true" max:"128"`
	// Addresses (IPs or CIDR prefixes such as 127.0.0.0/8) that the
	// per-address limits do not apply to: connection_rate,
	// connections_per_ip, login_failures, address_login_failures,
	// account_creations and create_attempts. For development on one
	// machine; behind a reverse proxy, where every client comes from the
	// proxy's address, list the proxy in trusted_proxies instead. A live
	// edit reaches running plugins at once. Default: [].
	Exempt Addresses `mapstructure:"exempt" live:"true"`
	// Reverse proxies (IPs or CIDR prefixes) whose X-Forwarded-For or
	// Forwarded header names the real client: the websocket plugin takes a
	// session's address from it, so that every per-address limit counts
	// the client and not the proxy. A client's own header is never
	// believed. A live edit reaches running plugins at once. Default: [].
	TrustedProxies Addresses `mapstructure:"trusted_proxies" live:"true"`
}
