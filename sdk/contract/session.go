package contract

import (
	"maps"
	"time"
)

// Protocol flag names Evennia keeps in a session's protocol_flags.
const (
	FlagEncoding     = "ENCODING"
	FlagScreenReader = "SCREENREADER"
	FlagInputDebug   = "INPUTDEBUG"
	FlagRaw          = "RAW"
	FlagNoColor      = "NOCOLOR"
	FlagLocalEcho    = "LOCALECHO"
	FlagScreenWidth  = "SCREENWIDTH"
	FlagScreenHeight = "SCREENHEIGHT"
	FlagClientName   = "CLIENTNAME"
	FlagANSI         = "ANSI"
	FlagXterm256     = "XTERM256"
	FlagTrueColor    = "TRUECOLOR"
	FlagUTF8         = "UTF-8"
)

// Field names of SessionData, as Evennia's SESSION_SYNC_ATTRS spells them.
// A partial sync names the fields it carries.
const (
	FieldProtocolKey         = "protocol_key"
	FieldAddress             = "address"
	FieldSuid                = "suid"
	FieldSessid              = "sessid"
	FieldUID                 = "uid"
	FieldCsessid             = "csessid"
	FieldUName               = "uname"
	FieldLoggedIn            = "logged_in"
	FieldPUID                = "puid"
	FieldConnTime            = "conn_time"
	FieldCmdLast             = "cmd_last"
	FieldCmdLastVisible      = "cmd_last_visible"
	FieldCmdTotal            = "cmd_total"
	FieldProtocolFlags       = "protocol_flags"
	FieldServerData          = "server_data"
	FieldCmdsetStorageString = "cmdset_storage_string"
)

// ServerDataOneShot is the server_data key (a bool) a plugin sets on a
// session that runs one command and ends, such as `ssh host command`.
// Its login is not a second login: in multisession mode 0 the host does not
// disconnect the account's other sessions for it.
const ServerDataOneShot = "one_shot"

// SyncFields lists every synced field (Evennia's SESSION_SYNC_ATTRS).
var SyncFields = []string{
	FieldProtocolKey, FieldAddress, FieldSuid, FieldSessid, FieldUID, FieldCsessid,
	FieldUName, FieldLoggedIn, FieldPUID, FieldConnTime, FieldCmdLast, FieldCmdLastVisible,
	FieldCmdTotal, FieldProtocolFlags, FieldServerData, FieldCmdsetStorageString,
}

// SessionData is a session's synced state, the same on both sides of the
// contract. Plugins keep it in their portal sessions, the host in its
// server sessions; sync events carry it across.
type SessionData struct {
	// Sessid is unique across all plugins and never reused.
	Sessid uint64
	// ProtocolKey names the protocol ("telnet", "ssh", "websocket" ...).
	ProtocolKey string
	// Address is the client's address ("host:port"), or a bot's target.
	Address string
	// Suid is Evennia's server-side unique id (unused by Portico's host).
	Suid string
	// UID is the logged-in account's id, 0 before login.
	UID int64
	// Csessid is a browser's client session id (websocket resume).
	Csessid string
	// UName is the logged-in account's name.
	UName string
	// LoggedIn reports whether the session has logged in.
	LoggedIn bool
	// PUID is the id of the character the session puppets, 0 if none.
	PUID int64
	// ConnTime is when the client connected.
	ConnTime time.Time
	// CmdLast is the last input of any kind (idle included).
	CmdLast time.Time
	// CmdLastVisible is the last input that was not "idle".
	CmdLastVisible time.Time
	// CmdTotal counts the commands the session sent.
	CmdTotal int64
	// ProtocolFlags are the client's capabilities and settings (Evennia's
	// protocol_flags: ENCODING, SCREENWIDTH, ANSI ...); synced merges them.
	ProtocolFlags Flags
	// ServerData is data the host keeps with the session across reloads.
	ServerData map[string]any
	// CmdsetStorageString names the command set in use.
	CmdsetStorageString string
}

// InitSession resets d to a fresh session of protocolKey from address, as
// Evennia's init_session does: not logged in, counters at now, default
// protocol flags.
func (d *SessionData) InitSession(protocolKey, address string, now time.Time) {
	*d = SessionData{
		ProtocolKey:    protocolKey,
		Address:        address,
		ConnTime:       now,
		CmdLast:        now,
		CmdLastVisible: now,
		ServerData:     map[string]any{},
	}
	d.ProtocolFlags.Set(FlagEncoding, "utf-8")
	for _, f := range []string{FlagScreenReader, FlagInputDebug, FlagRaw, FlagNoColor, FlagLocalEcho} {
		d.ProtocolFlags.Set(f, false)
	}
}

// SetServerData sets one key of the session's server data, making the map
// if it is nil (a zero SessionData).
func (d *SessionData) SetServerData(key string, v any) {
	if d.ServerData == nil {
		d.ServerData = map[string]any{}
	}
	d.ServerData[key] = v
}

// GetSyncData returns a deep-enough copy of d for sending: the maps are
// copied so that later changes to d do not race with the copy.
func (d *SessionData) GetSyncData() SessionData {
	c := *d
	c.ProtocolFlags = d.ProtocolFlags.Clone()
	c.ServerData = maps.Clone(d.ServerData)
	return c
}

// LoadSyncData loads the named fields of src into d (all of them when fields
// is empty). Every field is overwritten except protocol_flags, which is
// merged, as Evennia's load_sync_data does.
func (d *SessionData) LoadSyncData(src SessionData, fields []string) {
	if len(fields) == 0 {
		fields = SyncFields
	}
	for _, f := range fields {
		switch f {
		case FieldProtocolKey:
			d.ProtocolKey = src.ProtocolKey
		case FieldAddress:
			d.Address = src.Address
		case FieldSuid:
			d.Suid = src.Suid
		case FieldSessid:
			d.Sessid = src.Sessid
		case FieldUID:
			d.UID = src.UID
		case FieldCsessid:
			d.Csessid = src.Csessid
		case FieldUName:
			d.UName = src.UName
		case FieldLoggedIn:
			d.LoggedIn = src.LoggedIn
		case FieldPUID:
			d.PUID = src.PUID
		case FieldConnTime:
			d.ConnTime = src.ConnTime
		case FieldCmdLast:
			d.CmdLast = src.CmdLast
		case FieldCmdLastVisible:
			d.CmdLastVisible = src.CmdLastVisible
		case FieldCmdTotal:
			d.CmdTotal = src.CmdTotal
		case FieldProtocolFlags:
			d.ProtocolFlags.Merge(src.ProtocolFlags)
		case FieldServerData:
			d.ServerData = maps.Clone(src.ServerData)
			if d.ServerData == nil {
				d.ServerData = map[string]any{}
			}
		case FieldCmdsetStorageString:
			d.CmdsetStorageString = src.CmdsetStorageString
		}
	}
}

// Flag returns protocol flag name, or nil.
func (d *SessionData) Flag(name string) any { return d.ProtocolFlags.Value(name) }

// FlagBool returns protocol flag name as a bool (false when unset or not a
// bool).
func (d *SessionData) FlagBool(name string) bool { return d.ProtocolFlags.Bool(name) }

// FlagInt returns protocol flag name as an int, or def when unset or not a
// number.
func (d *SessionData) FlagInt(name string, def int) int { return d.ProtocolFlags.Int(name, def) }

// FlagString returns protocol flag name as a string ("" when unset or not a
// string).
func (d *SessionData) FlagString(name string) string { return d.ProtocolFlags.String(name) }

// Encoding returns the session's ENCODING flag, utf-8 when unset.
func (d *SessionData) Encoding() string {
	if s := d.ProtocolFlags.String(FlagEncoding); s != "" {
		return s
	}
	return "utf-8"
}
