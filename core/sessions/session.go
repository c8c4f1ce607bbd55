package sessions

import (
	"time"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

// Cmdset names stored in a session's cmdset_storage_string.
const (
	CmdsetUnloggedIn = "unloggedin"
	CmdsetAccount    = "account"
)

// ServerSession is the host's side of one connection, whatever its protocol
// (Evennia's ServerSession). It is owned by the handler's loop: touch it only
// from there.
type ServerSession struct {
	contract.SessionData

	// Plugin names the plugin (config key) the session arrived through.
	Plugin string
	// Account is the logged-in account, nil before login.
	Account *store.Account
	// Puppet is the character the session controls, nil if none.
	Puppet *store.Character
	// NDB holds non-persistent data, gone at reset; nil until something
	// is set (read it freely, set it with SetNDB).
	NDB map[string]any

	// Prompted, when set, receives the next line of text input instead of
	// the command parser (a password asked for with echo off).
	Prompted func(s *ServerSession, line string)

	handler *ServerSessionHandler
	// busy counts the operations the session waits on (a login delay, a
	// password check, its login being saved); input arriving meanwhile
	// waits in held, in order. waiting holds the finish callbacks of input
	// that ran and started what the session waits on (see DataInThen):
	// they run once busy is back to 0.
	busy    int
	held    []heldInput
	waiting []func()
	// told is the login the session's plugin has been told of: the host's
	// own fields (LoggedIn, UID, UName, PUID) move first, told only once
	// the row that proves them is saved. Whatever reaches the plugin
	// carries told.
	told loginView
	// rowSaved is set once a login row was queued for the session, so
	// that its end deletes it.
	rowSaved bool
	// greeted is set once the connection screen was shown.
	greeted bool
	// idleWarned is set once the idle warning was sent.
	idleWarned bool
	// rateWarned is set once the command-rate message was sent, until a
	// command is let through again.
	rateWarned bool
	// watchesWebclientOptions is set once the client asked for its
	// webclient_options: it is sent the changes its account's other
	// sessions make. (The bools sit together: ten thousand records are
	// 512 bytes each, not 576.)
	watchesWebclientOptions bool
	// cmdTokens is the session's command-rate bucket, as of cmdTokensAt
	// (Unix nanoseconds; 0 before the first command).
	cmdTokens   float64
	cmdTokensAt int64
	// repeats are the session's running `repeat` inputfunc timers.
	repeats map[string]*time.Timer
	// watches are the values the session's client watches (monitors.go).
	watches []*watch
	// delayStop stops the timer of a delayed login (AccountLoginDelay),
	// nil when none waits.
	delayStop func() bool
}

// SetNDB sets one key of the session's non-persistent data, making the
// map on first use: ten thousand idle sessions hold no empty maps.
func (s *ServerSession) SetNDB(key string, v any) {
	if s.NDB == nil {
		s.NDB = map[string]any{}
	}
	s.NDB[key] = v
}

// Handler returns the session handler that owns the session.
func (s *ServerSession) Handler() *ServerSessionHandler { return s.handler }

// Msg sends text to the session's client.
func (s *ServerSession) Msg(text string) {
	s.handler.SendMessages(s, contract.Text(text))
}

// Send sends already clean messages to the session's client.
func (s *ServerSession) Send(msgs ...contract.Message) {
	s.handler.SendMessages(s, msgs...)
}

// DataOut sends Evennia-style send data (text=..., prompt=..., options=...)
// through clean_senddata.
func (s *ServerSession) DataOut(data map[string]any) {
	s.handler.DataOut(s, data)
}

// DataIn passes input from the portal to the inputfuncs (Evennia's
// ServerSession.data_in).
func (s *ServerSession) DataIn(msgs ...contract.Message) {
	s.handler.CallInputfuncs(s, msgs)
}

// AtSync applies the session's synced state on the host: the cmdset for its
// login state, and the account and puppet when it comes logged in (after a
// reload), without login hooks.
func (s *ServerSession) AtSync() {
	if !s.LoggedIn || s.Account == nil {
		s.CmdsetStorageString = CmdsetUnloggedIn
		return
	}
	s.CmdsetStorageString = CmdsetAccount
}

// AtLogin marks the session logged in as account (Evennia's at_login).
func (s *ServerSession) AtLogin(acc store.Account) {
	a := acc
	s.Account = &a
	s.UID = acc.ID
	s.UName = acc.Name
	s.LoggedIn = true
	s.PUID = 0
	s.Puppet = nil
	s.CmdsetStorageString = CmdsetAccount
}

// UpdateSessionCounters records activity: idle input moves only cmd_last;
// other input also counts a command and moves cmd_last_visible.
func (s *ServerSession) UpdateSessionCounters(now time.Time, idle bool) {
	s.CmdLast = now
	s.idleWarned = false
	if !idle {
		s.CmdTotal++
		s.CmdLastVisible = now
	}
}

// UpdateFlags sets protocol flags and syncs them to the plugin.
func (s *ServerSession) UpdateFlags(flags map[string]any) {
	s.ProtocolFlags.SetAll(flags)
	s.handler.SessionPortalPartialSync(s, contract.FieldProtocolFlags)
}

// ScreenWidth returns the client's width (78 when unknown, as Evennia).
func (s *ServerSession) ScreenWidth() int { return s.FlagInt(contract.FlagScreenWidth, 78) }

// ScreenHeight returns the client's height (45 when unknown, as Evennia).
func (s *ServerSession) ScreenHeight() int { return s.FlagInt(contract.FlagScreenHeight, 45) }

// OneShot reports whether s runs one command and ends (its plugin set
// server_data one_shot, as the SSH plugin does for `ssh host command`).
func (s *ServerSession) OneShot() bool {
	b, _ := s.ServerData[contract.ServerDataOneShot].(bool)
	return b
}

// IsAdmin reports whether the session is logged in to an admin account.
func (s *ServerSession) IsAdmin() bool { return s.Account != nil && s.Account.IsAdmin }
