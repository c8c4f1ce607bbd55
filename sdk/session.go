package sdk

import (
	"sync"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
)

// maxEarlyMessages bounds input held back before Connect.
const maxEarlyMessages = 64

// Session is the plugin side of one connection (Evennia's portal session).
// Its data is synced with the host's ServerSession. All methods are safe for
// concurrent use.
type Session struct {
	portal *Portal
	conn   Conn
	// ip is the client's network for the connection limits ("" for bots).
	ip string
	// done is closed when the session is closed: it ends a wait for its
	// turn to connect. It is made by the first wait (closedSignal), not
	// with the session: most sessions never wait, and each of thousands
	// would keep its 96 bytes.
	done chan struct{}

	mu   sync.Mutex
	data contract.SessionData
	// announced is set once the host has been told of the session.
	announced bool
	closed    bool
	// early holds input given before Connect, sent right after it.
	early []Message
}

// ID returns the session id, unique across all plugins of the host.
func (s *Session) ID() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data.Sessid
}

// Conn returns the connection behind the session.
func (s *Session) Conn() Conn { return s.conn }

// GetSyncData returns a copy of the session's synced data (Evennia's
// get_sync_data).
func (s *Session) GetSyncData() SessionData {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data.GetSyncData()
}

// LoadSyncData loads the named fields of d (all when none are named),
// merging protocol flags (Evennia's load_sync_data). The session id is kept.
func (s *Session) LoadSyncData(d SessionData, fields ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.data.Sessid
	s.data.LoadSyncData(d, fields)
	s.data.Sessid = id
}

// Flag returns one protocol flag.
func (s *Session) Flag(name string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data.ProtocolFlags.Value(name)
}

// FlagBool returns one protocol flag as a bool.
func (s *Session) FlagBool(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data.FlagBool(name)
}

// LoggedIn reports whether the host has logged the session in.
func (s *Session) LoggedIn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data.LoggedIn
}

// Update changes the session's data under its lock. Call Sync afterwards to
// tell the host.
func (s *Session) Update(f func(d *SessionData)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.data.Sessid
	f(&s.data)
	s.data.Sessid = id
}

// SetFlags sets protocol flags and syncs them to the host (Evennia's
// update_flags followed by a sync).
func (s *Session) SetFlags(flags map[string]any) {
	s.Update(func(d *SessionData) {
		d.ProtocolFlags.SetAll(flags)
	})
	s.Sync(contract.FieldProtocolFlags)
}

// Connect announces the session to the host (PCONN) with its whole sync
// data. Call it once the connection is ready for the connection screen;
// input given before Connect is held back until then.
func (s *Session) Connect() { s.connect(nil) }

// Credentials are what a client gave while connecting (an SSH login): a
// name with a password, or with the public key it proved it holds (SSH
// wire format). The plugin passes them on unchecked; the host checks them.
type Credentials struct {
	// Name is the account name the client gave.
	Name string
	// Password is the password it gave, if it logged in with one.
	Password string
	// PublicKey is the SSH wire form of the key it proved it holds, if any.
	PublicKey []byte
}

// ConnectWithCredentials announces the session with the client's
// credentials: the host logs it in when they are right (no connection
// screen) and shows the login screen when they are not.
func (s *Session) ConnectWithCredentials(c Credentials) { s.connect(&c) }

func (s *Session) connect(c *Credentials) {
	s.mu.Lock()
	if s.announced || s.closed {
		s.mu.Unlock()
		return
	}
	s.announced = true
	d := s.data.GetSyncData()
	early := s.early
	s.early = nil
	// Queued under the lock, so that no DataIn, Sync or Disconnected of this
	// session from another goroutine can reach the host before its Connect.
	s.portal.sendConnect(d, c)
	busy := len(early) > 0 && s.portal.sendDataIn(d.Sessid, early)
	s.mu.Unlock()
	if busy {
		s.conn.Send(s, []Message{Text(msgBusy)})
	}
}

// Sync sends the named fields (all when none are named) to the host
// (PCONNSYNC): after negotiation, on a window resize, on a flag change.
func (s *Session) Sync(fields ...string) {
	s.mu.Lock()
	if !s.announced || s.closed {
		s.mu.Unlock()
		return
	}
	d := s.data.GetSyncData()
	// Queued under the lock: see Connect.
	s.portal.sendSync(d, fields)
	s.mu.Unlock()
}

// DataIn sends the client's input to the host, in order. It counts the
// command for the idle timers on this side, as Evennia's portal does.
func (s *Session) DataIn(msgs ...Message) {
	if len(msgs) == 0 {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.data.CmdLast = time.Now()
	if !s.announced {
		// Held back until Connect; a client that types before the handshake
		// ends (Evennia's #1122) loses nothing, within a bound.
		if len(s.early)+len(msgs) <= maxEarlyMessages {
			s.early = append(s.early, msgs...)
		}
		s.mu.Unlock()
		return
	}
	// Queued under the lock, so that input keeps its order and cannot
	// overtake the session's Connect or follow its Disconnected.
	busy := s.portal.sendDataIn(s.data.Sessid, msgs)
	s.mu.Unlock()
	if busy {
		s.conn.Send(s, []Message{Text(msgBusy)})
	}
}

// Disconnected tells the portal and the host that the client went away or
// the plugin closed the connection (PDISCONN). It does not call Conn.Close.
func (s *Session) Disconnected(reason string) {
	s.portal.removeSession(s, reason, true)
}

// markClosed records that the session is gone; it reports whether it was
// open and announced.
func (s *Session) markClosed() (wasOpen, announced bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wasOpen = !s.closed
	if wasOpen && s.done != nil {
		close(s.done)
	}
	s.closed = true
	return wasOpen, s.announced
}

// closedSignal returns a channel closed when the session is closed (at
// once if it is already).
func (s *Session) closedSignal() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
		if s.closed {
			close(s.done)
		}
	}
	return s.done
}

// View calls f with the session's data under its lock, without copying it:
// the cheap way for a plugin to read flags on every output. f must not
// keep the data or call the session's methods.
func (s *Session) View(f func(d *SessionData)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.data)
}
