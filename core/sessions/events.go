package sessions

import "github.com/portico-mud/portico/sdk/contract"

// Event is one thing the session handler tells a plugin, as a Go value: the
// host's link adapter (core/plugins/link.go) encodes it for the wire, so
// that this package never imports the wire. The types are the link's
// host-to-plugin events; the set is closed.
type Event interface{ portalEvent() }

// DataOut sends messages to sessions of one plugin. A broadcast names all
// its recipients in one event, so that the plugin gets one frame, not one
// per session.
type DataOut struct {
	Sessids  []uint64
	Messages []contract.Message
}

// Login tells a plugin that a session's login is saved: who it is now.
type Login struct {
	Sessid uint64
	UID    int64
	UName  string
	PUID   int64
}

// SessionSync pushes one session's data to its plugin (SSYNC); with
// Fields, only those fields are to be taken.
type SessionSync struct {
	Session contract.SessionData
	Fields  []string
}

// SyncAll pushes every session of a plugin; Clean drops the plugin's
// sessions not listed. With Fields, only those fields are to be taken.
type SyncAll struct {
	Sessions []contract.SessionData
	Clean    bool
	Fields   []string
}

// Disconnect ends one session.
type Disconnect struct {
	Sessid uint64
	Reason string
}

// DisconnectAll ends every session of a plugin.
type DisconnectAll struct {
	Reason string
}

func (DataOut) portalEvent()       {}
func (Login) portalEvent()         {}
func (SessionSync) portalEvent()   {}
func (SyncAll) portalEvent()       {}
func (Disconnect) portalEvent()    {}
func (DisconnectAll) portalEvent() {}
