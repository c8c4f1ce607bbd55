// Package sdk is everything a Portico protocol plugin imports: the
// interface a plugin implements, Serve, the portal-side session, config
// decoding and logging that survives the host going away.
//
// A plugin owns its sockets. It turns client bytes into messages and hands
// them to the host through its sessions; the host's output arrives at the
// plugin's Conn for rendering. The SDK does the rest: the go-plugin
// handshake, the gRPC link, batching, session ids and bookkeeping.
//
// The package must not import the host (core) or the command line (cmd).
package sdk

import (
	"context"

	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/sdk/contract"
)

// Message is one inputfunc or outputfunc call: Name(*Args, **Kwargs).
type Message = contract.Message

// SessionData is a session's synced state.
type SessionData = contract.SessionData

// Text builds a `text` message.
func Text(s string) Message { return contract.Text(s) }

// ProtocolVersion is the version of the portal session contract this SDK
// speaks. The host and a plugin must share it. The versions and what each
// changed are listed in sdk/README.md ("Contract versions").
const ProtocolVersion = 2

// PluginName is the name the portal service is dispensed under.
const PluginName = "portal"

// Handshake is the go-plugin handshake every Portico plugin and host share.
// The magic cookie only keeps a plugin binary from being run by hand by
// mistake; it is not a security measure.
var Handshake = hplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "PORTICO_PLUGIN",
	MagicCookieValue: "portal-session-contract",
}

// Environment variables the host sets for a plugin it launches.
const (
	EnvDataDir    = "PORTICO_DATA_DIR"
	EnvPluginName = "PORTICO_PLUGIN_NAME"
)

// Plugin is what a protocol implements.
type Plugin interface {
	// Configure starts the protocol with its config: listen, or connect.
	// It is called once, before any session exists. portal is how the plugin
	// creates sessions and reports their input.
	Configure(ctx context.Context, cfg Config, portal *Portal) (Info, error)
	// Shutdown stops listening and frees what the plugin holds. The SDK has
	// already closed every session with the host's reason.
	Shutdown(ctx context.Context) error
}

// BotStarter is implemented by plugins that can start bot sessions
// (start_bot_session): an IRC bot connects out with the bot's config dict
// and creates its session through the portal.
type BotStarter interface {
	// StartBot creates the bot's one session from its config dict and
	// returns it at once; the bot connects out on its own.
	StartBot(ctx context.Context, cfg Config) (*Session, error)
}

// Info is what a configured plugin tells the host about itself.
type Info struct {
	// ProtocolKey names the protocol in every session (Evennia's
	// protocol_key: "telnet", "ssh", "websocket" ...).
	ProtocolKey string
	// Capabilities lists optional features ("oob", "bots", ...).
	Capabilities []string
	// Listeners are where the plugin serves clients (ListenerOf); the
	// host's console shows them, and passes them back to Validate as the
	// addresses the running plugin holds.
	Listeners []Listener
}

// Conn is a plugin's client connection behind one session.
type Conn interface {
	// Send renders output messages to the client. It must not block on the
	// network: queue the bytes (see the connio package) and return.
	// Send is called for different sessions at the same time (a broadcast
	// to thousands is written in parts on several goroutines), and for one
	// session one call after another, in the host's order. Calls for
	// several sessions share msgs: read it, never change it.
	Send(s *Session, msgs []Message)
	// Close ends the connection, showing reason to the client first when it
	// is not empty. The session is already gone from the portal.
	Close(reason string)
}

// LoginNotifier is implemented by a Conn that wants to know when its session
// logs in (SLOGIN).
type LoginNotifier interface {
	// LoggedIn is called after the session's data shows the login.
	LoggedIn(s *Session)
}

// SyncNotifier is implemented by a Conn that wants to know when the host
// changed its session's data (SSYNC), e.g. protocol flags set in-game.
type SyncNotifier interface {
	// Synced is called after the host's data was loaded into the session.
	Synced(s *Session)
}
