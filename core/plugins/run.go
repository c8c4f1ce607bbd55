package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// One run of a plugin: reattach or launch, Configure, and serve its Link
// until either side ends it.

// runOnce reattaches to or launches the plugin, configures it, and serves
// its link until either ends. The process is ended and its record removed
// when the run ends, unless the run was handed over for a host reload
// (errDetached): then both are left for the next host image.
func (r *runner) runOnce(ctx context.Context) error {
	rec, outbox := r.beginRun()
	defer func() {
		r.mu.Lock()
		r.accepting = false
		r.mu.Unlock()
	}()
	pc, rec, err := r.reach(ctx, rec)
	if err != nil {
		return err
	}
	portal := pc.portal()
	keep := false
	var runRec record
	defer func() {
		if !keep {
			pc.end(r, runRec)
			r.forget(runRec)
		}
	}()
	receipt := r.startAcks(rec == nil)
	defer r.endAcks()
	resp, cfgJSON, err := r.configure(ctx, portal, rec != nil, receipt)
	if err != nil {
		return err
	}
	runRec = r.runRecord(pc, rec, resp, cfgJSON)
	err = r.serveLink(ctx, pc, outbox, &runRec, rec != nil, resp)
	keep = errors.Is(err, errDetached)
	if errors.Is(err, errUnresponsive) {
		// A stopped or wedged process would hold go-plugin's Kill for its
		// graceful wait and ignore a SIGTERM.
		r.m.killHung(runRec)
	}
	return err
}

// beginRun resets the runner for a new run. It returns the record of a
// process to reattach to (nil: launch one) and the run's outbox.
func (r *runner) beginRun() (*record, *wire.Outbox) {
	r.setState(StateStarting)
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.reattach
	r.reattach = nil
	r.detaching = false
	r.detached = make(chan struct{})
	r.finish = nil
	r.outbox = wire.NewOutbox(0)
	return rec, r.outbox
}

// reach returns the run's plugin: for a local plugin, the process rec
// names reattached to, else a launch (reattachOrLaunch); for a remote one,
// the edge's connection (remote.go). It returns the record it reattached
// by, nil for a fresh process.
func (r *runner) reach(ctx context.Context, rec *record) (pluginConn, *record, error) {
	if r.remote {
		return r.takeEdge(ctx)
	}
	return r.reattachOrLaunch(ctx, rec)
}

// forget removes what a run that ended left on disk: a local plugin's
// record, receipt and data socket, which went with its process. A remote
// plugin's record stays: the same process may come back (remote.go).
func (r *runner) forget(rec record) {
	if r.remote {
		return
	}
	r.m.removeRecord(r.name)
	r.m.removeSocket("unix", rec.DataAddr)
}

// reattachOrLaunch reattaches to the process rec names, and launches the
// plugin when there is none or the reattach fails (that process is then
// ended). It returns the record it reattached by, nil for a fresh process.
func (r *runner) reattachOrLaunch(ctx context.Context, rec *record) (pluginConn, *record, error) {
	if rec != nil {
		client, portal, err := r.connect(rec)
		if err == nil {
			reapIfChild(rec.Pid)
			return &localConn{client: client, pc: portal}, rec, nil
		}
		r.log.Warn("cannot reattach; starting the plugin afresh", "err", err)
		r.m.endRecorded(rec)
	}
	client, portal, err := r.connect(nil)
	if err != nil {
		return nil, nil, err
	}
	if err := r.launched(ctx); err != nil {
		r.m.killClient(client)
		return nil, nil, err
	}
	return &localConn{client: client, pc: portal}, nil, nil
}

// launched tells the session handler the plugin is a fresh process: the
// logins saved for the sessions of an earlier one prove nothing now. Run
// before any of its events, which the link reader runs itself: posted
// with Do, it could be overtaken.
func (r *runner) launched(ctx context.Context) error {
	h := r.m.handler
	if err := h.Call(ctx, func() { h.PluginLaunched(r.name) }); err != nil {
		return fmt.Errorf("plugins: %s: %w", r.name, err)
	}
	return nil
}

// configure hands the plugin its first block of session ids and its config
// block (Configure); from then on events for it are queued. A reattached
// process's sessions are then rebuilt on the host. It returns Configure's
// answer and the block as sent.
func (r *runner) configure(ctx context.Context, portal portalpb.PortalClient, reattached bool,
	receipt *portalpb.InputReceipt) (*portalpb.ConfigureResponse, []byte, error) {
	start, err := r.grantFirstBlock(ctx, !reattached)
	if err != nil {
		return nil, nil, err
	}
	cfgJSON, err := json.Marshal(r.currentSpec().Config)
	if err != nil {
		return nil, nil, fmt.Errorf("plugins: %s: encode config: %w", r.name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	hostInfo := hostFacts(r.m.config())
	hostInfo.SessidStart, hostInfo.SessidCount = start, sessidBlock
	// The plugin's figures come as often as the host pings it. Not one of
	// the host facts a live edit sends: a plugin takes a new interval at
	// its next Configure (a restart, a reload).
	hostInfo.FiguresIntervalMs = r.m.config().Server.PluginPingInterval.Milliseconds()
	hostInfo.ReattachToken = r.reattachToken()
	resp, err := portal.Configure(cctx, &portalpb.ConfigureRequest{ConfigJson: cfgJSON, Host: hostInfo,
		InputReceipt: receipt})
	cancel()
	if err != nil {
		return nil, nil, fmt.Errorf("plugins: %s: configure: %w", r.name, err)
	}
	if err := r.checkProtocol(resp); err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	r.accepting = true
	r.mu.Unlock()
	if reattached {
		// Rebuild the host's sessions before any link event arrives: the
		// loop runs posted work in order.
		if err := r.restoreSessions(ctx, portal); err != nil {
			return nil, nil, err
		}
	}
	return resp, cfgJSON, nil
}

// runRecord is the record of this run, for a host image that reattaches
// to it: the process (pid, start time, executable, socket), the contract
// version and mTLS material of its launch, and the block it runs. A
// reattached process keeps its launch's start time and restart count from
// old.
func (r *runner) runRecord(pc pluginConn, old *record, resp *portalpb.ConfigureResponse, cfgJSON []byte) record {
	r.mu.Lock()
	version, mtls := r.version, r.mtls
	r.mu.Unlock()
	rec := record{Name: r.name, Exe: r.path, ProtocolVersion: version, MTLS: mtls.record(r.log),
		ProtocolKey: resp.GetProtocolKey(), ConfigJSON: string(cfgJSON), Started: time.Now(),
		Listen: listenerAddrs(resp.GetListeners())}
	if old != nil {
		rec.Exe, rec.Started, rec.Restarts = old.Exe, old.Started, old.Restarts
	}
	// What the plugin's earlier processes counted: a new process's
	// counts start from 0, the host's go on from these.
	base := r.figures.baseFigures()
	if old == nil {
		base = r.figures.newProcess()
	}
	if base.Reported {
		rec.Figures = &base
	}
	pc.fillRecord(&rec)
	if rec.Pid <= 0 {
		return rec
	}
	if st, _, err := procStartTicks(rec.Pid); err == nil {
		rec.StartTicks = st
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", rec.Pid)); err == nil {
		rec.Exe = strings.TrimSuffix(exe, " (deleted)")
	}
	return rec
}

// serveLink opens the plugin's link (its data socket, or the Link stream:
// openLink), saves the run's record, marks the plugin running, and serves
// the link until it ends: with errDetached when the plugin was handed over
// for a host reload, with errUnresponsive when it stopped answering, else
// with why the link was lost.
func (r *runner) serveLink(ctx context.Context, pc pluginConn, outbox *wire.Outbox,
	rec *record, reattached bool, resp *portalpb.ConfigureResponse) error {
	lctx, stopLink := context.WithCancel(ctx)
	defer stopLink()
	portal := pc.portal()
	l, dataAddr, err := r.openLink(lctx, pc, outbox, resp)
	if err != nil {
		return fmt.Errorf("plugins: %s: open link: %w", r.name, err)
	}
	rec.DataAddr = dataAddr
	if err := r.m.writeRecord(*rec); err != nil {
		r.log.Error("plugin record", "err", err)
	}
	acks := r.acks
	r.running(portal, *rec, reattached, resp, func() {
		// The reload's second step: the last acknowledgement of the
		// plugin's input goes out with everything the host queued, then
		// the link closes (finish).
		if acks != nil {
			acks.flush()
		}
		l.finish()
	})
	recvErr := l.serve(ctx)
	detaching := r.isDetaching()
	stopLink()
	l.close()
	if errors.Is(recvErr, errUnresponsive) {
		return recvErr
	}
	if detaching && errors.Is(recvErr, io.EOF) {
		return errDetached
	}
	if errors.Is(recvErr, io.EOF) {
		recvErr = errors.New("link closed by plugin")
	}
	if pc.gone() {
		return fmt.Errorf("plugins: %s: %s ended: %w", r.name, pc.what(*rec), recvErr)
	}
	return fmt.Errorf("plugins: %s: link lost: %w", r.name, recvErr)
}

// running marks the run running, for status, bots and live edits: its
// portal client, pid, protocol key and listeners, and finish, the reload's
// second step (finishDetach). It logs the start and calls OnRunning.
func (r *runner) running(portal portalpb.PortalClient, rec record, reattached bool, resp *portalpb.ConfigureResponse, finish func()) {
	r.mu.Lock()
	r.client, r.pid, r.key = portal, rec.Pid, resp.GetProtocolKey()
	r.started = rec.Started
	if !reattached {
		r.started = time.Now()
	}
	r.state = StateRunning
	// lastErr stays, with its time, until another replaces it: a plugin
	// that died and came back shows why it died.
	r.listeners = resp.GetListeners()
	r.lastFailure = ""
	r.finish = finish
	r.mu.Unlock()
	r.quietRepeat.Store(false)
	r.settle()
	over := "data socket"
	if rec.DataAddr == "" {
		over = "Link stream"
	}
	r.log.Info("plugin running", "pid", rec.Pid, "protocol", resp.GetProtocolKey(), "reattached", reattached,
		"link", over, "listening", strings.Join(listenerNames(resp.GetListeners()), ", "))
	if hook := r.m.OnRunning; hook != nil {
		go hook(r.name, resp.GetProtocolKey())
	}
}

// restoreSessions asks a reattached plugin for its sessions and rebuilds
// them on the host (portal_sessions_sync).
//
// The answer comes in pages (wire.ReadSessionPages), each well under the
// gRPC message bound, so that a plugin with more sessions than one message
// holds (some 41,000 without server data, a few thousand with a few KB of
// it each) keeps them across a reload. The pages are of one snapshot the
// plugin took at the first call; they are all read before anything is
// restored, and then restored at once, under the game's ownership, as one
// answer was: one PortalSessionsGone and one PortalSessionsSyncSaved on the
// whole list. What changed on the plugin after its snapshot comes as
// events over the link, which opens only after this returns (serveLink),
// so it is applied after the restore. The reading is bounded
// (wire.MaxSessionsPages, wire.MaxSessionsAnswerBytes): a plugin that
// pages without end gets an error here, and a reattach that fails starts
// the plugin afresh.
func (r *runner) restoreSessions(ctx context.Context, portal portalpb.PortalClient) error {
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	t0 := time.Now()
	h := r.m.handler
	// The logins the host saved for the plugin's sessions are read while
	// the plugin prepares its answer, not after it (a reload's 10,000 rows
	// take the store 15-20 ms); waited for on every way out.
	savedc := make(chan sessions.SavedLogins, 1)
	go func() { savedc <- h.SavedLogins(r.name) }()
	var saved sessions.SavedLogins
	waitSaved := sync.OnceFunc(func() { saved = <-savedc })
	defer waitSaved()
	// The answer is read straight from its bytes (wire.ReadSessions).
	pages, err := wire.ReadSessionPages(sctx, func(ctx context.Context, req *portalpb.SessionsRequest) (*portalpb.SessionsResponse, error) {
		return portal.Sessions(ctx, req, wire.RawSessionsAnswer())
	}, restorePageBytes())
	if err != nil {
		return fmt.Errorf("plugins: %s: sessions: %w", r.name, err)
	}
	if pages.Restarted {
		r.log.Warn("the plugin's sessions snapshot was gone before its last page; read again from the first")
	}
	t1 := time.Now()
	all := make([]contract.SessionData, 0, pages.Len())
	// A session listed twice is kept once: an honest plugin lists each
	// of its sessions once, and a repeat would have the game restore,
	// greet and broadcast to the same session over and over (pages hold
	// up to wire.MaxSessionsAnswerBytes of them).
	listed := make(map[uint64]struct{}, pages.Len())
	repeats := 0
	err = pages.Range(func(d contract.SessionData, err error) {
		if err != nil {
			r.log.Warn("bad session from plugin", "err", err)
			return
		}
		if !r.grantedSessid(d.Sessid, "sessions list") {
			return
		}
		if _, dup := listed[d.Sessid]; dup {
			repeats++
			return
		}
		listed[d.Sessid] = struct{}{}
		all = append(all, d)
	})
	if err != nil {
		return fmt.Errorf("plugins: %s: sessions: %w", r.name, err)
	}
	if repeats > 0 {
		r.log.Warn("the plugin listed sessions more than once; each kept once", "repeats", repeats)
	}
	// Only the pages' counts are read after this, for the log line, so
	// that their bytes (a second copy of every session) can be collected
	// during the rebuild.
	nPages, nBytes := pages.Pages(), pages.Bytes()
	waitSaved()
	// Waited for: the link reader runs the plugin's events itself, and
	// they must find the sessions rebuilt.
	t2 := time.Now()
	if err := h.Call(ctx, func() {
		// A clean sync: what the host still holds for the plugin (a remote
		// one's sessions, kept while it was away) and it no longer lists
		// is gone.
		h.PortalSessionsGone(r.name, all)
		h.PortalSessionsSyncSaved(r.name, all, saved)
	}); err != nil {
		return fmt.Errorf("plugins: %s: sessions: %w", r.name, err)
	}
	// Where a reload's restore spends its time: the plugin's answer, its
	// decoding, the rebuild with the restart announcement.
	r.log.Info("sessions restored", "count", len(all), "pages", nPages, "bytes", nBytes,
		"took", time.Since(t0).Round(time.Millisecond),
		"asked", t1.Sub(t0).Round(time.Millisecond), "decoded", t2.Sub(t1).Round(time.Millisecond),
		"rebuilt", time.Since(t2).Round(time.Millisecond))
	return nil
}

// EnvTestSessionsPageBytes is a knob for tests only: the page size, in
// bytes, a reattaching host asks a plugin's Sessions answer in, so that an
// end-to-end test pages a few hundred sessions. Unset (as outside tests),
// or not a number from 1 to wire.SessionsPageBytes, it is
// wire.SessionsPageBytes. It only makes pages smaller: it cannot lift the
// plugin's or the message's bound.
const EnvTestSessionsPageBytes = "PORTICO_TEST_SESSIONS_PAGE_BYTES"

// restorePageBytes is the page size restoreSessions asks for.
func restorePageBytes() int {
	if n, err := strconv.Atoi(os.Getenv(EnvTestSessionsPageBytes)); err == nil && n > 0 && n <= wire.SessionsPageBytes {
		return n
	}
	return wire.SessionsPageBytes
}

// startAcks opens the run's input receipt and starts acknowledging input
// (acks.go), and returns the receipt to tell the plugin at Configure: how
// far earlier hosts got with a reattached process (a fresh one is at 0).
// When the receipt cannot be opened the run acknowledges nothing, and the
// plugin, told nothing, keeps no input for a later host.
func (r *runner) startAcks(fresh bool) *portalpb.InputReceipt {
	rc, received, known, err := r.m.openReceipt(r.name, fresh)
	if err != nil {
		r.log.Error("input receipt; this run acknowledges no input", "err", err)
		return nil
	}
	if !known {
		r.log.Warn("no input receipt from the last host: the plugin will tell its players their last command may not have run")
	}
	r.receipt = rc
	r.acks = newInputAcks(received, r.send)
	return wire.ReceiptToPB(wire.Receipt{Received: received, Known: known})
}

// endAcks stops the run's acknowledgements and closes its receipt.
func (r *runner) endAcks() {
	if r.acks != nil {
		r.acks.stop()
		r.acks = nil
	}
	if r.receipt != nil {
		if err := r.receipt.close(); err != nil {
			r.log.Warn("close input receipt", "err", err)
		}
		r.receipt = nil
	}
}
