package plugins

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// runner supervises one plugin (see supervise.go). What is under mu is
// shared between the supervising goroutine, the link's goroutines and the
// Manager's callers; what is above it is set when the runner is made.
type runner struct {
	remoteParts
	m      *Manager
	name   string
	spec   config.Plugin
	path   string
	log    *slog.Logger
	cancel context.CancelFunc
	// done is closed when supervise returns.
	done chan struct{}
	// acks and receipt follow the current run's input (acks.go,
	// receipt.go); nil between runs, or when the receipt could not be
	// opened (the run then acknowledges nothing). Only the run's own
	// goroutine (supervise, whose link reader runs handleFrame) sets and
	// reads them; acks has its own lock for the goroutines it serves.
	acks    *inputAcks
	receipt *receipt
	// figures are what the plugin's processes reported (figures.go).
	figures figureState

	mu       sync.Mutex
	state    string
	pid      int
	started  time.Time
	restarts int
	crashes  []time.Time
	lastErr  string
	key      string
	client   portalpb.PortalClient
	outbox   *wire.Outbox
	// lastErrAt is when lastErr happened.
	lastErrAt time.Time
	// dataWriter is the current run's data link writer (nil on the Link
	// stream), whose bound a live edit of plugin_outbox_mib changes.
	dataWriter *wire.FrameWriter
	// accepting is set while a run can take events for the plugin.
	accepting bool
	stopping  bool
	// reattach, when set, is the record of a running plugin process to
	// reattach to instead of launching one.
	reattach *record
	// grants are the blocks of session ids granted to the current run of
	// the plugin (and those before it, when reattached).
	grants []store.SessidRange
	// trustKeys is the plugin's trust_key_logins: whether its key logins
	// count. A live config change updates it without a relaunch.
	trustKeys atomic.Bool
	// version is the contract version of the current run: negotiated at
	// launch, or the record's on a reattach.
	version int
	// mtls, when the link runs AutoMTLS, keeps its key pair and the
	// plugin's certificate for the record (nil without mTLS).
	mtls *linkTLS
	// Reload handshake: detached is closed when the plugin's Detached
	// arrives; finish stops the link's sending side.
	detaching bool
	detached  chan struct{}
	finish    func()

	// configErr is Status.ConfigError; listeners are the current run's.
	configErr string
	listeners []*portalpb.Listener
	// lastFailure is the last run's error with its numbers blanked, to tell
	// a plugin that dies the same way again (reported once) from a new
	// failure.
	lastFailure string
	// quietRepeat hides go-plugin's "plugin process exited" lines after a
	// first failure, and quietKill its "failed to exit gracefully" for a
	// process that ended by itself (pluginLogger).
	quietRepeat, quietKill atomic.Bool
	// settled is closed once the first run is running or has failed
	// (WaitStarted).
	settled     chan struct{}
	settledOnce sync.Once

	// A remote plugin (remote.go): edge is its current connection, addr
	// the last one's address, dropNow set when its sessions go with the
	// connection (revoked). edges hands superviseRemote each accepted
	// connection; offerMu orders the offers.
	edge    *edgeConn
	addr    string
	dropNow bool
}

// remoteParts are a remote runner's fields set when it is made.
type remoteParts struct {
	// remote is set for a remote plugin.
	remote  bool
	edges   chan *edgeConn
	offerMu sync.Mutex
	// revoked tells superviseRemote that the plugin was revoked while
	// not connected: its kept sessions go at once.
	revoked chan struct{}
}

func (r *runner) protocolKey() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.key
}

func (r *runner) portalClient() portalpb.PortalClient {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != StateRunning {
		return nil
	}
	return r.client
}

func (r *runner) setState(state string) {
	r.mu.Lock()
	r.state = state
	r.mu.Unlock()
}

// currentSpec returns the plugin's config as it runs.
func (r *runner) currentSpec() config.Plugin {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spec
}

// heldAddrs are the addresses the plugin's process listens on now.
func (r *runner) heldAddrs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return listenerAddrs(r.listeners)
}

// isDetaching reports whether the run is being handed over for a reload.
func (r *runner) isDetaching() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.detaching
}

// markUnresponsive shows the plugin as unresponsive, with why, until it
// runs again: its run is ending, and supervise restarts it.
func (r *runner) markUnresponsive(why error) {
	r.mu.Lock()
	r.state = StateUnresponsive
	r.lastErr = "unresponsive: " + why.Error()
	r.mu.Unlock()
	r.log.Error("plugin unresponsive; ending it and dropping its sessions", "why", why)
}

// setOutboxLimit applies a live edit of plugin_outbox_mib to the current
// data link.
func (r *runner) setOutboxLimit(mib int) {
	r.mu.Lock()
	w := r.dataWriter
	r.mu.Unlock()
	if w != nil {
		w.SetMaxBacklog(mib << 20)
	}
}
