package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/freemem"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// outboxLimit bounds the events a plugin holds for the host, e.g. while the
// host reloads. Past it, input is refused with a message to the client.
const outboxLimit = 200_000

// ErrNoSessionID is returned by NewSession when no session id can be had
// in time (the host is unreachable and the plugin's ids are used up).
var ErrNoSessionID = errors.New("portal: no session id available")

// MsgWaitForHost is what a new connection is told when the plugin's
// session ids are used up while its host is away (restarting, or a remote
// plugin cut off from it): no id can be granted until the host is back.
const MsgWaitForHost = "The server is restarting; please wait a moment and connect again."

// errHostAway is nextID's error when no id is left and no host is linked.
var errHostAway = errors.New("portal: no session id left while the host is away")

// Portal is the plugin side of the session handler (Evennia's
// PortalSessionHandler): it keeps the plugin's sessions and carries their
// traffic to and from the host.
type Portal struct {
	log    *slog.Logger
	outbox *wire.Outbox
	// inputs numbers the input sent to the host and keeps it until the
	// host has finished it (replay.go).
	inputs inputLog

	// hostAway is set while no host is linked after one was (the plugin
	// waits for a host to come back): a connection that finds the session
	// ids used up then is told to come back in a moment, since no host can
	// grant more until one is back.
	hostAway atomic.Bool

	mu       sync.Mutex
	host     HostInfo
	sessions map[uint64]*Session
	// ids holds the granted blocks not yet used, in order.
	ids []idBlock
	// lastGrant is the size of the last block; below half of it left, more
	// are asked for.
	lastGrant uint64
	asked     bool
	// granted is closed (and replaced) whenever ids arrive.
	granted chan struct{}
	// perIP counts open sessions by client network (see ClientNetwork)
	// against the host's connections_per_ip; setHost keeps its limit.
	perIP AddressCounter
	// counters are the plugin's own per-address counters (see
	// NewAddressCounter), whose limit setHost keeps too.
	counters []*AddressCounter
	// queues holds the connection-rate queue of each client network that
	// connected lately (see waitTurn); queued counts their waiters, and
	// sweepAt is the map size at which idle ones are next swept out.
	queues  map[string]*connQueue
	queued  int
	sweepAt int
	// maxQueued bounds queued: the constant maxQueued, in a field so that
	// tests can lower it.
	maxQueued int
	// testRate, when above 0, is the connection rate in place of the
	// host's (NewTestPortalWithRate).
	testRate float64
	// keys are the CheckKey questions waiting for the host (keycheck.go).
	keys keyChecks
	// release returns memory to the OS after a burst of sessions (set by
	// Serve; nil in tests, where it does nothing).
	release *freemem.Release
	// figures are the process's counts the host is sent (figures.go).
	figures *figures
	// lane runs large broadcasts, and what must follow them, off the
	// link's reader (fanout.go); fanoutAt is the number of recipients
	// from which a broadcast goes there (asyncFanout), splitAt the number
	// from which its writes are split between goroutines (splitFanout).
	// Tests lower both.
	lane     clientLane
	fanoutAt int
	splitAt  int
}

type idBlock struct{ next, end uint64 }

func newPortal(log *slog.Logger) *Portal {
	return &Portal{
		log:       log,
		outbox:    wire.NewOutbox(outboxLimit),
		sessions:  map[uint64]*Session{},
		granted:   make(chan struct{}),
		queues:    map[string]*connQueue{},
		sweepAt:   minSweep,
		maxQueued: maxQueued,
		inputs:    inputLog{max: keptLimit},
		figures:   processFigures,
		fanoutAt:  asyncFanout,
		splitAt:   splitFanout,
	}
}

// NewTestPortal returns a portal that is not linked to a host, for a
// plugin's unit tests: it hands out session ids from 1 and its Outbox
// collects what would go to the host.
func NewTestPortal(log *slog.Logger) *Portal {
	p := newPortal(log)
	p.grant(1, 1<<40)
	p.keys.unlinked = true
	return p
}

// NewTestPortalWith is NewTestPortal with host as what the host told the
// plugin at Configure: its connection limits apply in NewSession.
func NewTestPortalWith(log *slog.Logger, host HostInfo) *Portal {
	p := NewTestPortal(log)
	p.setHost(host)
	return p
}

// NewTestPortalWithRate is NewTestPortalWith with a connection rate of
// perSecond new connections a second per address, which may be a fraction
// (1/3: one every 3 s; the host's limits.connection_rate is a whole
// number), in place of host's. A plugin's queue tests use a slow rate so
// that a loaded machine has seconds, not fractions of one, between turns.
func NewTestPortalWithRate(log *slog.Logger, host HostInfo, perSecond float64) *Portal {
	p := NewTestPortalWith(log, host)
	p.mu.Lock()
	p.testRate = perSecond
	p.mu.Unlock()
	return p
}

// setHost records what the host said at Configure (again at every
// reattach, which may change the limits).
func (p *Portal) setHost(host HostInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.host = host
	exempt, _ := host.Exempt.Parse() // the host's Load checked it
	p.perIP.SetLimit(host.ConnectionsPerIP)
	p.perIP.setExempt(exempt)
	for _, c := range p.counters {
		c.SetLimit(host.ConnectionsPerIP)
		c.setExempt(exempt)
	}
}

// NewAddressCounter returns a counter, for the plugin's own use, whose
// limit is the host's limits.connections_per_ip now and after every
// reattach: each Configure sets it anew, as it does the limit of
// NewSession's own count. A plugin counts with it what comes before a
// session (connections still in a TLS or SSH handshake, logging in, or
// yet to say who they are; see LimitListener). The plugin's Configure runs
// only once, at the first host's Configure, so a counter made there with
// sdk.NewAddressCounter(cfg.Host.ConnectionsPerIP) would keep that host's
// limit for good, whatever limit a host that reattached later gave.
func (p *Portal) NewAddressCounter() *AddressCounter {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := NewAddressCounter(p.host.ConnectionsPerIP)
	c.exempt, _ = p.host.Exempt.Parse()
	p.counters = append(p.counters, c)
	return c
}

// Outbox returns the queue of events bound for the host (for tests and the
// conformance kit).
func (p *Portal) Outbox() *wire.Outbox { return p.outbox }

// Cork holds the events the plugin sends to the host (its sessions'
// input, connects, syncs) until the function it returns is called, so
// that a batch of work reaches the host in one write and wakes it once:
// give it as connio.PollerOptions.Batch to a Poller that reads the
// plugin's connections itself. Nothing waits meanwhile; keep batches
// short.
func (p *Portal) Cork() (uncork func()) { return p.outbox.Cork() }

// Log returns the plugin's logger.
func (p *Portal) Log() *slog.Logger { return p.log }

// Host returns what the host said about itself at Configure.
func (p *Portal) Host() HostInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.host
}

// NewSession creates a session for conn with a fresh session id and
// Evennia's initial data (init_session). The host hears of it on Connect.
// It waits for ids from the host when the plugin has none left, until ctx
// ends.
//
// The host's connection limits apply here, to every plugin alike, per
// client network (an IPv4 address, an IPv6 /64): a client over the
// per-address limit is refused (told why, its Conn closed, and an error
// wrapping ErrRefused returned: the plugin just drops it). Past the
// connection rate a client waits its turn in its own network's queue,
// told how long, and one whose wait would pass the host's
// connection_queue_wait is refused the same way. The wait ends when ctx
// ends: pass a context that ends when the client hangs up
// (connio.Watch gives one for a net.Conn), so that a client that leaves
// gives its place up at once. NewSession then returns an error wrapping
// ctx's cause and leaves the Conn to the plugin. Do not hold a lock
// other connections need across the call: it may wait.
func (p *Portal) NewSession(ctx context.Context, conn Conn, protocolKey, address string) (*Session, error) {
	ip := p.limitedNetwork(address)
	if !p.perIP.Admit(ip) {
		p.figures.refusedAddress.Add(1)
		conn.Close(MsgTooManyConnections)
		return nil, fmt.Errorf("portal: %s: %w", address, &refusal{message: MsgTooManyConnections})
	}
	id, err := p.nextID(ctx)
	if err != nil {
		p.perIP.Release(ip)
		if errors.Is(err, errHostAway) {
			conn.Close(MsgWaitForHost)
			return nil, fmt.Errorf("portal: %s: %w: %w", address, ErrNoSessionID, &refusal{message: MsgWaitForHost})
		}
		return nil, err
	}
	s := &Session{portal: p, conn: conn, ip: ip}
	s.data.InitSession(protocolKey, address, time.Now())
	s.data.Sessid = id
	p.mu.Lock()
	p.sessions[id] = s
	p.mu.Unlock()
	p.release.Note()
	if ip != "" {
		if err := p.waitTurn(ctx, s); err != nil {
			// Closed only for a refusal: a client that hung up has no one
			// to tell, and a session closed while queued was closed then.
			if p.removeSession(s, "", false) {
				if m, ok := RefusalMessage(err); ok {
					p.figures.refusedQueue.Add(1)
					conn.Close(m)
				}
			}
			return nil, fmt.Errorf("portal: %s: %w", address, err)
		}
	}
	return s, nil
}

// Session returns the live session with id, or nil.
func (p *Portal) Session(id uint64) *Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessions[id]
}

// Count returns the number of live sessions.
func (p *Portal) Count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sessions)
}

// All returns the live sessions.
func (p *Portal) All() []*Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Session, 0, len(p.sessions))
	for _, s := range p.sessions {
		out = append(out, s)
	}
	return out
}

// Disconnect closes a session from the plugin's side with reason shown to
// the client, and tells the host (PDISCONN).
func (p *Portal) Disconnect(s *Session, reason string) {
	if p.removeSession(s, reason, true) {
		s.conn.Close(reason)
	}
}

// DisconnectAll closes every session with reason and tells the host.
func (p *Portal) DisconnectAll(reason string) {
	for _, s := range p.All() {
		p.Disconnect(s, reason)
	}
}

// removeSession forgets s; it reports whether s was still open.
func (p *Portal) removeSession(s *Session, reason string, tellHost bool) bool {
	wasOpen, announced := s.markClosed()
	if !wasOpen {
		return false
	}
	id := s.ID()
	p.mu.Lock()
	if p.sessions[id] == s {
		delete(p.sessions, id)
	}
	p.mu.Unlock()
	p.perIP.Release(s.ip)
	p.release.Note()
	if tellHost && announced {
		p.put(&portalpb.Event{Kind: &portalpb.Event_Disconnected{
			Disconnected: &portalpb.Disconnected{Sessid: id, Reason: reason}}})
	}
	return true
}

func (p *Portal) nextID(ctx context.Context) (uint64, error) {
	for {
		p.mu.Lock()
		for len(p.ids) > 0 && p.ids[0].next >= p.ids[0].end {
			p.ids = p.ids[1:]
		}
		if len(p.ids) > 0 {
			id := p.ids[0].next
			p.ids[0].next++
			p.askIfLowLocked()
			p.mu.Unlock()
			return id, nil
		}
		p.askIfLowLocked()
		wait := p.granted
		p.mu.Unlock()
		if p.hostAway.Load() {
			return 0, errHostAway
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: %w", ErrNoSessionID, ctx.Err())
		}
	}
}

func (p *Portal) askIfLowLocked() {
	if p.asked {
		return
	}
	var left uint64
	for _, b := range p.ids {
		left += b.end - b.next
	}
	if left > p.lastGrant/2 {
		return
	}
	p.asked = true
	p.put(&portalpb.Event{Kind: &portalpb.Event_NeedSessids{NeedSessids: &portalpb.NeedSessids{}}})
}

func (p *Portal) grant(start, count uint64) {
	if count == 0 {
		return
	}
	p.mu.Lock()
	p.ids = append(p.ids, idBlock{next: start, end: start + count})
	p.lastGrant = count
	p.asked = false
	close(p.granted)
	p.granted = make(chan struct{})
	p.mu.Unlock()
}

// wakeIDWaiters makes connections waiting for a session id look again:
// the host went away, and they are told to come back (MsgWaitForHost).
func (p *Portal) wakeIDWaiters() {
	p.mu.Lock()
	close(p.granted)
	p.granted = make(chan struct{})
	p.mu.Unlock()
}

func (p *Portal) put(ev *portalpb.Event) {
	if err := p.outbox.Put(ev); err != nil {
		p.log.Warn("portal: event to host dropped", "err", err)
	}
}

func (p *Portal) sendConnect(d SessionData, c *Credentials) {
	pd, err := wire.SessionToPB(d)
	if err != nil {
		p.log.Error("portal: connect", "sessid", d.Sessid, "err", err)
		return
	}
	ev := &portalpb.Connect{Session: pd}
	if c != nil {
		ev.Credentials = &portalpb.Credentials{Name: c.Name, Password: c.Password, PublicKey: c.PublicKey}
	}
	p.put(&portalpb.Event{Kind: &portalpb.Event_Connect{Connect: ev}})
}

func (p *Portal) sendSync(d SessionData, fields []string) {
	pd, err := wire.SessionToPB(d)
	if err != nil {
		p.log.Error("portal: sync", "sessid", d.Sessid, "err", err)
		return
	}
	p.put(&portalpb.Event{Kind: &portalpb.Event_Sync{Sync: &portalpb.SessionSync{Session: pd, Fields: fields}}})
}

// msgBusy tells a client its input was refused because the outbox is full.
const msgBusy = "The server is busy; your input was not received. Please try again."

// sendDataIn numbers input and queues it for the host, keeping it until
// the host has finished it (replay.go). It reports whether the input was
// refused because the outbox is full, or the input kept is at its bound;
// the caller then tells the client (outside the session's lock: Conn.Send
// may call back into the session).
func (p *Portal) sendDataIn(id uint64, msgs []Message) (busy bool) {
	ev, err := wire.DataInToPB(id, 0, msgs)
	if err != nil {
		p.log.Warn("portal: input dropped", "sessid", id, "err", err)
		return false
	}
	ok, err := p.inputs.put(id, ev, func(ev *portalpb.Event) error { return p.outbox.Put(ev) })
	if err != nil {
		p.log.Warn("portal: input dropped", "sessid", id, "err", err)
	}
	return !ok
}

// appendSessions appends the sync data of every announced session to
// list, encoded from the session itself under its lock: no copy of it is
// made (a reattach asks for ten thousand at once).
func (p *Portal) appendSessions(list *wire.SessionList) error {
	all := p.All()
	for i, s := range all {
		var err error
		s.mu.Lock()
		if s.announced && !s.closed {
			err = list.Append(&s.data)
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if list.Len() == 1 {
			list.Reserve(len(all) - i - 1)
		}
	}
	return nil
}

// handleData applies one entry of a data frame from the host: output.
// Input from the host is a link broken beyond use.
func (p *Portal) handleData(ev wire.DataEvent) error {
	if !ev.Out {
		return errors.New("data link: input from the host")
	}
	// The ways handleEvent gives output: a large broadcast on the client
	// lane, anything while the lane has work behind it, the rest at once.
	// The closures take their own copies, so that the usual way allocates
	// nothing.
	switch ids, msgs := ev.Sessids, ev.Messages; {
	case len(ids) >= p.fanoutAt:
		p.lane.start(func() { p.deliver(ids, msgs) })
	case p.lane.busy.Load():
		p.lane.do(func() { p.deliver(ids, msgs) })
	default:
		p.deliver(ids, msgs)
	}
	return nil
}

// handleFrame applies one frame from the host, in order.
func (p *Portal) handleFrame(f *portalpb.Frame) {
	for _, ev := range f.GetEvents() {
		p.handleEvent(ev)
	}
}

// handleEvent applies one event from the host, on the link's reader: at
// once, or on the client lane (fanout.go) when it is a large broadcast or
// the lane has work it must come after.
func (p *Portal) handleEvent(ev *portalpb.Event) {
	switch k := ev.Kind.(type) {
	case *portalpb.Event_InputAck:
		p.inputs.ack(wire.InputAckFromPB(k.InputAck))
		return
	case *portalpb.Event_GrantSessids:
		p.grant(k.GrantSessids.GetStart(), k.GrantSessids.GetCount())
		return
	case *portalpb.Event_KeyChecked:
		p.keyChecked(k.KeyChecked.GetId(), k.KeyChecked.GetAccepted())
		return
	case *portalpb.Event_DataOut:
		if len(k.DataOut.GetSessids()) >= p.fanoutAt {
			p.lane.start(func() { p.applyEvent(ev) })
			return
		}
	}
	if p.lane.busy.Load() {
		p.lane.do(func() { p.applyEvent(ev) })
		return
	}
	p.applyEvent(ev)
}

// applyEvent applies an event that reaches clients or their sessions.
func (p *Portal) applyEvent(ev *portalpb.Event) {
	switch k := ev.Kind.(type) {
	case *portalpb.Event_DataOut:
		msgs, err := wire.MessagesFromPB(k.DataOut.GetMessages())
		if err != nil {
			p.log.Error("portal: bad data out from host", "err", err)
			return
		}
		p.deliver(k.DataOut.GetSessids(), msgs)
	case *portalpb.Event_Disconnect:
		if s := p.Session(k.Disconnect.GetSessid()); s != nil {
			if p.removeSession(s, k.Disconnect.GetReason(), false) {
				s.conn.Close(k.Disconnect.GetReason())
			}
		}
	case *portalpb.Event_Login:
		l := k.Login
		if s := p.Session(l.GetSessid()); s != nil {
			s.Update(func(d *SessionData) {
				d.LoggedIn = true
				d.UID = l.GetUid()
				d.UName = l.GetUname()
				d.PUID = l.GetPuid()
			})
			if n, ok := s.conn.(LoginNotifier); ok {
				n.LoggedIn(s)
			}
		}
	case *portalpb.Event_Sync:
		p.loadSync(k.Sync.GetSession(), k.Sync.GetFields())
	case *portalpb.Event_SyncAll:
		// Made at its size: a reload's sync lists every session.
		listed := make(map[uint64]bool, len(k.SyncAll.GetSessions()))
		for _, pd := range k.SyncAll.GetSessions() {
			listed[pd.GetSessid()] = true
			p.loadSync(pd, k.SyncAll.GetFields())
		}
		if k.SyncAll.GetClean() {
			for _, s := range p.All() {
				if !listed[s.ID()] && s.isAnnounced() {
					if p.removeSession(s, "", false) {
						s.conn.Close("")
					}
				}
			}
		}
	case *portalpb.Event_DisconnectAll:
		for _, s := range p.All() {
			if p.removeSession(s, k.DisconnectAll.GetReason(), false) {
				s.conn.Close(k.DisconnectAll.GetReason())
			}
		}
	default:
		p.log.Warn("portal: unexpected event from host", "event", fmt.Sprintf("%T", ev.Kind))
	}
}

func (p *Portal) loadSync(pd *portalpb.SessionData, fields []string) {
	d, err := syncFromPB(pd, fields)
	if err != nil {
		p.log.Error("portal: bad sync from host", "err", err)
		return
	}
	s := p.Session(d.Sessid)
	if s == nil {
		return
	}
	s.LoadSyncData(d, fields...)
	if n, ok := s.conn.(SyncNotifier); ok {
		n.Synced(s)
	}
}

// syncFromPB is wire.SessionFromPB for a sync of fields (none: all of
// them): the protocol flags are decoded only when the sync applies them.
// A reload's sync of every session leaves them out (the plugin holds
// them), and decoding each session's flags for nothing was most of the
// plugin's work on it (BenchmarkReloadSyncAll).
func syncFromPB(pd *portalpb.SessionData, fields []string) (SessionData, error) {
	if pd == nil || len(fields) == 0 || slices.Contains(fields, contract.FieldProtocolFlags) {
		return wire.SessionFromPB(pd)
	}
	flags := pd.ProtocolFlags
	pd.ProtocolFlags = nil
	d, err := wire.SessionFromPB(pd)
	pd.ProtocolFlags = flags
	return d, err
}

func (s *Session) isAnnounced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.announced
}

// resumeInput settles the input kept for the host when a link comes up,
// before anything is sent on it (see inputLog.resume), and tells the
// players whose input may have run on a host that is gone. No link may be
// sending meanwhile.
func (p *Portal) resumeInput() {
	tell := p.inputs.resume(p.outbox)
	if len(tell) == 0 {
		return
	}
	// After any output the last link left on the client lane.
	p.lane.do(func() {
		told := 0
		for _, id := range tell {
			if s := p.Session(id); s != nil {
				s.conn.Send(s, []Message{Text(MsgMayNotHaveRun)})
				told++
			}
		}
		p.log.Info("link: input the last host may have run is not sent again; players told", "sessions", told)
	})
}
