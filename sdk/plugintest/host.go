package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/launch"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// HostOptions shape the fake host. The zero value is what Start uses.
type HostOptions struct {
	// ReattachGrace is told to the plugin at Configure: how long it keeps
	// its clients when the host goes away. Default 60 s.
	ReattachGrace time.Duration
	// SessidCount is the size of each block of session ids the host
	// grants. Default 1024.
	SessidCount uint64
	// HostVersions are the contract versions the host offers when it
	// launches a plugin binary. Default sdk.SupportedProtocolVersions().
	HostVersions []int
	// ConnectionsPerIP is the host's per-address connection limit told to
	// the plugin (0: none). The kit sets no connection rate: its clients
	// come quickly from one address.
	ConnectionsPerIP int
	// KeyCheck answers the plugin's CheckKey questions, as the host does
	// from its accounts' keys. Nil accepts every key (a host where every
	// key offered is registered).
	KeyCheck func(name string, publicKey []byte) bool

	// umask000 launches the plugin binary with umask 000, the most
	// careless umask an operator can give it (the Socket check).
	umask000 bool
}

// Host is a fake Portico host driving one instance of the plugin under
// test: it launches the plugin as the real host does (or serves it in
// process), configures it, holds its link (the plugin's data socket, as
// the host dials it, or the Link stream) and records every event
// the plugin sends, answering NeedSessids with fresh blocks as the real
// host does. Tests use it directly for checks of their own beyond Run's.
//
// Its methods fail the test on any error, so they must be called from the
// test's goroutine. Everything it started is stopped when the test ends.
type Host struct {
	t    testing.TB
	s    Suite
	opts HostOptions
	addr string
	cfg  map[string]any
	info *portalpb.ConfigureResponse

	// dataDir is the plugin's data directory: Serve logs to
	// <dataDir>/logs/<name>.log there.
	dataDir string
	name    string

	// The plugin, launched (binary) or in process.
	launched *hplugin.Client
	// sockDir is the directory the host names for the plugin's socket
	// (binary).
	sockDir  string
	attached []*hplugin.Client
	hclogBuf *LockedBuffer
	srv      *sdk.Server
	lis      *bufconn.Listener
	gs       *grpc.Server
	logBuf   *LockedBuffer
	lost     chan struct{}

	// The current connection and its link.
	conn   io.Closer
	portal portalpb.PortalClient
	link   *link

	mu sync.Mutex
	// events are the plugin's events not yet consumed by an Await, in
	// the order they arrived.
	events []*portalpb.Event
	// changed is closed (and replaced) whenever events or the link change.
	changed chan struct{}
	// grants are the session id blocks handed out, [start, end).
	grants      [][2]uint64
	nextSessid  uint64
	needSessids int
	shutDown    bool
}

// link is one link, the plugin's data socket or a Link stream, and its
// receiving goroutine.
type link struct {
	// stream is the Link stream; nil on a data socket.
	stream portalpb.Portal_LinkClient
	// conn and rd are the data socket's connection and the reader of its
	// frames; nil on a Link stream.
	conn     net.Conn
	rd       *wire.FrameReader
	cancel   context.CancelFunc
	sendMu   sync.Mutex
	detached chan struct{}
	// pongs receives the nonce of each pong (data socket).
	pongs chan uint64
	// done is closed when the link has ended; err says how.
	done chan struct{}
	err  error
}

// send writes evs to the plugin as one frame.
func (l *link) send(evs ...*portalpb.Event) error {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	if l.stream != nil {
		return l.stream.Send(&portalpb.Frame{Events: evs})
	}
	b, err := wire.AppendFrames(nil, l.rd.Version(), evs...)
	if err != nil {
		return err
	}
	return l.write(b)
}

// write writes frames on the data socket, bounded in time: the kit's
// writes may block, as nothing of the plugin waits on them.
func (l *link) write(b []byte) error {
	_ = l.conn.SetWriteDeadline(time.Now().Add(DefaultTimeout))
	_, err := l.conn.Write(b)
	return err
}

// recv returns the plugin's next events. On the data socket, a pong is
// handed to pongs and reading goes on.
func (l *link) recv() ([]*portalpb.Event, error) {
	if l.stream != nil {
		f, err := l.stream.Recv()
		return f.GetEvents(), err
	}
	for {
		typ, body, err := l.rd.Next()
		if err != nil {
			return nil, err
		}
		switch typ {
		case wire.FrameEvents:
			return wire.ParseEvents(body)
		case wire.FrameData:
			var evs []*portalpb.Event
			err := wire.ParseData(body, func(ev wire.DataEvent) error {
				pe, err := ev.PB()
				evs = append(evs, pe)
				return err
			})
			return evs, err
		case wire.FramePong:
			nonce, err := wire.ParseNonce(body)
			if err != nil {
				return nil, err
			}
			select {
			case l.pongs <- nonce:
			default:
			}
		default:
			return nil, fmt.Errorf("plugintest: the plugin sent a %v frame on the data socket", typ)
		}
	}
}

// closeSend closes the host's side of the link (the reload's last step).
func (l *link) closeSend() error {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	if l.stream != nil {
		return l.stream.CloseSend()
	}
	cw, ok := l.conn.(interface{ CloseWrite() error })
	if !ok {
		return fmt.Errorf("plugintest: a %T cannot close its writing side", l.conn)
	}
	return cw.CloseWrite()
}

// firstSessid is where the fake host's session ids start: far from 0 and 1,
// so that a plugin that invents ids instead of using its grants is caught.
const firstSessid = 1 << 20

// Start launches a fresh instance of the plugin s describes, configures it
// with s.Config (listening on a free loopback address, see Host.Addr) and
// opens its Link. It fails t if any step fails.
func Start(t testing.TB, s Suite) *Host { return StartWith(t, s, HostOptions{}) }

// StartWith is Start with options.
func StartWith(t testing.TB, s Suite, o HostOptions) *Host {
	t.Helper()
	h := Launch(t, s, o)
	if _, err := h.Configure(h.cfg); err != nil {
		t.Fatalf("plugintest: Configure: %v", err)
	}
	h.OpenLink()
	return h
}

// Launch starts a fresh instance of the plugin without configuring it:
// the plugin binary through go-plugin exactly as the host launches it, or
// the in-process plugin behind sdk.NewServer over an in-memory gRPC
// connection. It fails t when the launch fails; LaunchErr returns the error
// instead.
func Launch(t testing.TB, s Suite, o HostOptions) *Host {
	t.Helper()
	h, err := LaunchErr(t, s, o)
	if err != nil {
		t.Fatalf("plugintest: launch: %v", err)
	}
	return h
}

// LaunchErr is Launch returning the launch's error (a protocol version
// mismatch is a *sdk.VersionMismatchError).
func LaunchErr(t testing.TB, s Suite, o HostOptions) (*Host, error) {
	t.Helper()
	if (s.Binary == "") == (s.New == nil) {
		t.Fatal("plugintest: set exactly one of Suite.Binary and Suite.New")
	}
	if o.ReattachGrace <= 0 {
		o.ReattachGrace = sdk.DefaultReattachGrace
	}
	if o.SessidCount == 0 {
		o.SessidCount = 1024
	}
	if len(o.HostVersions) == 0 {
		o.HostVersions = sdk.SupportedProtocolVersions()
	}
	h := &Host{t: t, s: s, opts: o, dataDir: t.TempDir(), changed: make(chan struct{}), nextSessid: firstSessid}
	if s.Dial != nil {
		addr, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		h.addr = addr
	}
	h.cfg = map[string]any{}
	if s.Config != nil {
		h.cfg = s.Config(h.addr)
	}
	t.Cleanup(h.stop)
	var err error
	if s.Binary != "" {
		err = h.launchBinary()
	} else {
		h.startInProcess()
	}
	if err != nil {
		return nil, err
	}
	return h, nil
}

// launchBinary starts the plugin binary as core/plugins does: the same
// handshake, versions, transport and environment.
func (h *Host) launchBinary() error {
	h.name = strings.TrimPrefix(filepath.Base(h.s.Binary), "portico-")
	// A short directory: unix socket paths are limited to about 100 bytes
	// and test names make t.TempDir long.
	sockDir, err := os.MkdirTemp("", "pt")
	if err != nil {
		return fmt.Errorf("plugintest: %w", err)
	}
	h.t.Cleanup(func() { os.RemoveAll(sockDir) })
	h.sockDir = sockDir
	h.hclogBuf = &LockedBuffer{}
	cmd := exec.Command(h.s.Binary)
	if h.opts.umask000 {
		cmd = exec.Command("/bin/sh", "-c", `umask 000 && exec "$0"`, h.s.Binary)
	}
	// The same environment, handshake, versions and transport as the
	// host's (sdk/launch).
	cmd.Env = launch.Environ(os.Environ(), launch.Env{DataDir: h.dataDir, PluginName: h.name, SocketDir: sockDir})
	cc := launch.Config(cmd, h.opts.HostVersions)
	cc.Logger = hclog.New(&hclog.LoggerOptions{Name: "plugin." + h.name, Output: h.hclogBuf, Level: hclog.Info})
	client := hplugin.NewClient(cc)
	h.launched = client
	portal, conn, err := dispense(client)
	if err != nil {
		return fmt.Errorf("plugintest: %s: %w", h.s.Binary, sdk.DetectVersionMismatch(err, h.opts.HostVersions))
	}
	h.portal, h.conn = portal, conn
	return nil
}

// dispense connects a go-plugin client and returns the portal client and
// what closes its connection without asking the plugin to exit (closing
// go-plugin's own client would shut the plugin down, which no host that
// re-executes or dies does).
func dispense(client *hplugin.Client) (portalpb.PortalClient, io.Closer, error) {
	rpc, err := client.Client()
	if err != nil {
		return nil, nil, err
	}
	portal, err := launch.Dispense(rpc)
	if err != nil {
		return nil, nil, err
	}
	gc, ok := rpc.(*hplugin.GRPCClient)
	if !ok {
		return nil, nil, fmt.Errorf("go-plugin gave a %T, not a gRPC client", rpc)
	}
	return portal, gc.Conn, nil
}

// startInProcess serves the plugin in this process over bufconn, as Serve
// would serve it over go-plugin's socket.
func (h *Host) startInProcess() {
	h.name = "plugintest"
	h.logBuf = &LockedBuffer{}
	h.srv = sdk.NewServer(h.s.New(), slog.New(slog.NewTextHandler(h.logBuf, nil)).With("plugin", h.name))
	h.lost = make(chan struct{})
	h.srv.OnHostLost = func() { close(h.lost) }
	// The data socket, as sdk.Serve makes it beside go-plugin's, in a
	// short directory (unix socket paths are limited to about 100 bytes).
	dataDir, err := os.MkdirTemp("", "pt")
	if err != nil {
		h.t.Fatalf("plugintest: %v", err)
	}
	h.t.Cleanup(func() { os.RemoveAll(dataDir) })
	if err := h.srv.ListenData(dataDir); err != nil {
		h.t.Fatalf("plugintest: %v", err)
	}
	h.lis = bufconn.Listen(1 << 20)
	h.gs = grpc.NewServer(wire.ServerOptions()...)
	if err := (&sdk.GRPCPlugin{Impl: h.srv}).GRPCServer(nil, h.gs); err != nil {
		h.t.Fatalf("plugintest: register: %v", err)
	}
	go func() { _ = h.gs.Serve(h.lis) }()
	h.dialInProcess()
}

func (h *Host) dialInProcess() {
	lis := h.lis
	cc, err := grpc.NewClient("passthrough:///plugintest",
		append(launch.DialOptions(),
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		h.t.Fatalf("plugintest: dial: %v", err)
	}
	h.portal, h.conn = portalpb.NewPortalClient(cc), cc
}

// stop ends everything at the end of the test: a plugin not shut down is
// shut down (so that its listeners close), the process is killed.
func (h *Host) stop() {
	h.mu.Lock()
	shutDown := h.shutDown
	h.mu.Unlock()
	if h.srv != nil {
		select {
		case <-h.lost:
			// The grace period ran out and the plugin shut itself down: a
			// second Shutdown is not the contract's to ask for.
			shutDown = true
		default:
		}
		if !shutDown {
			ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
			_, _ = h.srv.Shutdown(ctx, &portalpb.ShutdownRequest{Reason: "plugintest: end of test"})
			cancel()
		}
		if h.conn != nil {
			h.conn.Close()
		}
		h.gs.Stop()
		h.srv.Close()
	}
	if h.launched != nil {
		if h.conn != nil {
			h.conn.Close()
		}
		h.launched.Kill()
		for _, c := range h.attached {
			c.Kill()
		}
	}
	if h.t.Failed() {
		h.dumpLogs()
	}
}

func (h *Host) dumpLogs() {
	if h.logBuf != nil {
		h.t.Logf("plugin log:\n%s", h.logBuf.String())
	}
	if h.hclogBuf != nil {
		h.t.Logf("go-plugin log (the plugin's stderr):\n%s", h.hclogBuf.String())
	}
	if b, err := os.ReadFile(filepath.Join(h.dataDir, "logs", h.name+".log")); err == nil {
		h.t.Logf("plugin log file %s.log:\n%s", h.name, b)
	}
}

func (h *Host) timeout() time.Duration {
	if h.s.Timeout > 0 {
		return h.s.Timeout
	}
	return DefaultTimeout
}

func (h *Host) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), h.timeout())
}

// Addr returns the address the plugin was configured to listen on ("" when
// the suite has no Dial).
func (h *Host) Addr() string { return h.addr }

// Info returns the plugin's last answer to Configure.
func (h *Host) Info() *portalpb.ConfigureResponse { return h.info }

// Portal returns the gRPC client of the plugin's current connection, for
// calls of a test's own.
func (h *Host) Portal() portalpb.PortalClient { return h.portal }

// DataDir returns the data directory the plugin was given.
func (h *Host) DataDir() string { return h.dataDir }

// Configure calls Configure with cfg (the plugin's config block) and a
// fresh block of session ids, as the host does at launch and at every
// reattach.
func (h *Host) Configure(cfg map[string]any) (*portalpb.ConfigureResponse, error) {
	return h.ConfigureHost(cfg, nil)
}

// ConfigureHost is Configure with the host's facts changed by edit first
// (nil: none), as a live edit of the host's limits sends them.
func (h *Host) ConfigureHost(cfg map[string]any, edit func(*portalpb.HostInfo)) (*portalpb.ConfigureResponse, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("plugintest: encode config: %w", err)
	}
	host := h.hostInfo()
	host.SessidStart, host.SessidCount = h.grant(), h.opts.SessidCount
	if edit != nil {
		edit(host)
	}
	ctx, cancel := h.ctx()
	defer cancel()
	resp, err := h.portal.Configure(ctx, &portalpb.ConfigureRequest{ConfigJson: b, Host: host})
	if err != nil {
		return nil, err
	}
	h.info = resp
	return resp, nil
}

// hostInfo is what the fake host tells the plugin about itself.
func (h *Host) hostInfo() *portalpb.HostInfo {
	return &portalpb.HostInfo{
		ServerName: "PluginTest", DataDir: h.dataDir, Version: "plugintest", MaxInputLength: 6000,
		ReattachGraceMs:  h.opts.ReattachGrace.Milliseconds(),
		ConnectionsPerIp: uint32(h.opts.ConnectionsPerIP),
	}
}

// Validate calls Validate with cfg and the addresses the running plugin is
// said to hold, as the host does before a launch (held empty) or a live
// edit.
func (h *Host) Validate(cfg map[string]any, held ...string) (*portalpb.ValidateResponse, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("plugintest: encode config: %w", err)
	}
	ctx, cancel := h.ctx()
	defer cancel()
	return h.portal.Validate(ctx, &portalpb.ValidateRequest{ConfigJson: b, Host: h.hostInfo(), HeldAddresses: held})
}

// grant reserves the next block of session ids.
func (h *Host) grant() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	start := h.nextSessid
	h.nextSessid += h.opts.SessidCount
	h.grants = append(h.grants, [2]uint64{start, start + h.opts.SessidCount})
	return start
}

// Granted reports whether id lies in a block this host granted.
func (h *Host) Granted(id uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, g := range h.grants {
		if id >= g[0] && id < g[1] {
			return true
		}
	}
	return false
}

// NeedSessids returns how many NeedSessids events the plugin has sent.
func (h *Host) NeedSessids() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.needSessids
}

// OpenLink opens the link as the host does: the plugin's data socket
// when its Configure answer names one (unless Suite.StreamLink), else the
// Link stream on the current connection. Events from it are collected for
// Await.
func (h *Host) OpenLink() {
	h.t.Helper()
	if path := h.info.GetDataPath(); path != "" && !h.s.StreamLink {
		h.openDataLink(path, h.info.GetDataSecret())
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := h.portal.Link(ctx)
	if err != nil {
		cancel()
		h.t.Fatalf("plugintest: open link: %v", err)
	}
	// The plugin sends the stream's headers once the link has taken over
	// (sdk.Server does): until then, dropping the connection would look
	// to the plugin like no link at all.
	headers := make(chan error, 1)
	go func() {
		_, err := stream.Header()
		headers <- err
	}()
	select {
	case err := <-headers:
		if err != nil {
			cancel()
			h.t.Fatalf("plugintest: the plugin ended the link at once: %v", err)
		}
	case <-time.After(h.timeout()):
		cancel()
		h.t.Fatal("plugintest: the plugin did not take the link over (no stream headers)")
	}
	l := &link{stream: stream, cancel: cancel, detached: make(chan struct{}), done: make(chan struct{})}
	h.link = l
	go h.receive(l)
}

// openDataLink dials the plugin's data socket with its secret, as the host
// does (launch.DialData).
func (h *Host) openDataLink(path string, secret []byte) {
	h.t.Helper()
	ctx, cancel := h.ctx()
	conn, rd, err := launch.DialData(ctx, path, secret, nil)
	cancel()
	if err != nil {
		h.t.Fatalf("plugintest: open the data link: %v", err)
	}
	l := &link{conn: conn, rd: rd, cancel: func() { conn.Close() }, detached: make(chan struct{}),
		pongs: make(chan uint64, 1), done: make(chan struct{})}
	h.link = l
	go h.receive(l)
}

// DataLink reports whether the current link is the plugin's data socket
// (not the Link stream).
func (h *Host) DataLink() bool { return h.link != nil && h.link.conn != nil }

// Ping pings the plugin on its data socket and waits for the pong with
// the same nonce.
func (h *Host) Ping(nonce uint64) {
	h.t.Helper()
	l := h.link
	if l == nil || l.conn == nil {
		h.t.Fatal("plugintest: Ping needs a data link")
	}
	l.sendMu.Lock()
	err := l.write(wire.AppendPing(nil, nonce))
	l.sendMu.Unlock()
	if err != nil {
		h.t.Fatalf("plugintest: ping: %v", err)
	}
	deadline := time.After(h.timeout())
	for {
		select {
		case got := <-l.pongs:
			if got == nonce {
				return
			}
			h.t.Errorf("plugintest: a pong with nonce %d for the ping with %d", got, nonce)
		case <-l.done:
			h.t.Fatalf("plugintest: the link ended (%v) waiting for a pong", l.err)
		case <-deadline:
			h.t.Fatalf("plugintest: no pong within %v", h.timeout())
		}
	}
}

// receive collects one link's events until it ends.
func (h *Host) receive(l *link) {
	defer func() {
		h.mu.Lock()
		close(l.done)
		h.notifyLocked()
		h.mu.Unlock()
	}()
	detached := false
	for {
		evs, err := l.recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				l.err = err
			}
			return
		}
		for _, ev := range evs {
			switch ev.Kind.(type) {
			case *portalpb.Event_NeedSessids:
				h.mu.Lock()
				h.needSessids++
				h.mu.Unlock()
				start := h.grant()
				h.sendOn(l, &portalpb.Event{Kind: &portalpb.Event_GrantSessids{GrantSessids: &portalpb.GrantSessids{
					Start: start, Count: h.opts.SessidCount}}})
				continue
			case *portalpb.Event_KeyCheck:
				kc := ev.GetKeyCheck()
				accepted := h.opts.KeyCheck == nil || h.opts.KeyCheck(kc.GetName(), kc.GetPublicKey())
				h.sendOn(l, &portalpb.Event{Kind: &portalpb.Event_KeyChecked{KeyChecked: &portalpb.KeyChecked{
					Id: kc.GetId(), Accepted: accepted}}})
				continue
			case *portalpb.Event_Detached:
				if !detached {
					detached = true
					close(l.detached)
				}
				continue
			}
			h.mu.Lock()
			if detached {
				// Nothing may follow Detached on a link: record the breach
				// so that the next Await fails on it.
				h.events = append(h.events, &portalpb.Event{})
			}
			h.events = append(h.events, ev)
			h.notifyLocked()
			h.mu.Unlock()
		}
	}
}

func (h *Host) notifyLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// sendOn sends events on link l as one frame. Errors are left to the
// link's receiver to report: a link that failed ends.
func (h *Host) sendOn(l *link, evs ...*portalpb.Event) error { return l.send(evs...) }

// Send sends events to the plugin on the current link, in one frame.
func (h *Host) Send(evs ...*portalpb.Event) {
	h.t.Helper()
	if h.link == nil {
		h.t.Fatal("plugintest: Send without a link")
	}
	if err := h.sendOn(h.link, evs...); err != nil {
		h.t.Fatalf("plugintest: send on the link: %v", err)
	}
}

// DataOut sends text to the listed sessions as one event (a broadcast is
// one event naming its recipients).
func (h *Host) DataOut(text string, sessids ...uint64) {
	h.t.Helper()
	h.Output("text", text, sessids...)
}

// Output sends the sessions an output message named name with text as its
// argument: "text" is DataOut; a bridge bot relays "channel", a game
// channel's line.
func (h *Host) Output(name, text string, sessids ...uint64) {
	h.t.Helper()
	msgs, err := wire.MessagesToPB([]contract.Message{{Name: name, Args: []any{text}}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.Send(&portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: sessids, Messages: msgs}}})
}

// AwaitLog waits until the plugin's own log holds substr: the kit's
// buffer for a plugin in process, <data_dir>/logs/<name>.log for a binary.
// Polling is the only way to watch a file another process writes; every
// poll is bounded.
func (h *Host) AwaitLog(substr string) {
	h.t.Helper()
	deadline := time.Now().Add(h.timeout())
	for {
		var text string
		if h.logBuf != nil {
			text = h.logBuf.String()
		} else if b, err := os.ReadFile(filepath.Join(h.dataDir, "logs", h.name+".log")); err == nil {
			text = string(b)
		}
		if strings.Contains(text, substr) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("plugintest: the plugin's log did not say %q within %v", substr, h.timeout())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Disconnect ends a session from the host's side with reason.
func (h *Host) Disconnect(sessid uint64, reason string) {
	h.t.Helper()
	h.Send(&portalpb.Event{Kind: &portalpb.Event_Disconnect{Disconnect: &portalpb.Disconnect{Sessid: sessid, Reason: reason}}})
}

// Await waits for the first event not yet consumed that match accepts,
// consumes it and returns it. Events it passes over stay for later Awaits.
// It fails the test when none arrives in time or the link ends first.
func (h *Host) Await(what string, match func(*portalpb.Event) bool) *portalpb.Event {
	h.t.Helper()
	deadline := time.After(h.timeout())
	for {
		h.mu.Lock()
		for i, ev := range h.events {
			if ev.Kind == nil {
				h.mu.Unlock()
				h.t.Fatalf("plugintest: the plugin sent an event after Detached on the same link")
			}
			if match(ev) {
				h.events = slices.Delete(h.events, i, i+1)
				h.mu.Unlock()
				return ev
			}
		}
		changed := h.changed
		var ended chan struct{}
		var linkErr error
		if h.link != nil {
			select {
			case <-h.link.done:
				ended, linkErr = h.link.done, h.link.err
			default:
			}
		}
		pending := h.describeLocked()
		h.mu.Unlock()
		if ended != nil {
			h.t.Fatalf("plugintest: the link ended (%v) while waiting for %s; unconsumed events: %s", linkErr, what, pending)
		}
		select {
		case <-changed:
		case <-deadline:
			h.t.Fatalf("plugintest: timed out after %v waiting for %s; unconsumed events: %s", h.timeout(), what, pending)
		}
	}
}

// describeLocked lists the unconsumed events, for failure messages.
func (h *Host) describeLocked() string {
	if len(h.events) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, ev := range h.events {
		if i == 10 {
			fmt.Fprintf(&b, " … (%d more)", len(h.events)-i)
			break
		}
		fmt.Fprintf(&b, "\n  %v", ev)
	}
	return b.String()
}

// AwaitConnect waits for the next Connect event (a new session).
func (h *Host) AwaitConnect() *portalpb.Connect {
	h.t.Helper()
	return h.Await("a Connect event", func(ev *portalpb.Event) bool { return ev.GetConnect() != nil }).GetConnect()
}

// AwaitConnectOf waits for the Connect event of session sessid.
func (h *Host) AwaitConnectOf(sessid uint64) *portalpb.Connect {
	h.t.Helper()
	return h.Await(fmt.Sprintf("the Connect of session %d", sessid), func(ev *portalpb.Event) bool {
		return ev.GetConnect().GetSession().GetSessid() == sessid
	}).GetConnect()
}

// AwaitInput waits for the next DataIn event of session sessid and returns
// its messages.
func (h *Host) AwaitInput(sessid uint64) []contract.Message {
	h.t.Helper()
	ev := h.Await(fmt.Sprintf("input from session %d", sessid), func(ev *portalpb.Event) bool {
		return ev.GetDataIn() != nil && ev.GetDataIn().GetSessid() == sessid
	})
	for _, m := range ev.GetDataIn().GetMessages() {
		if m.GetName() == "text" && len(m.GetArgsJson()) > 0 {
			h.t.Errorf("plugintest: a text message with only string arguments was sent as JSON, not on the str_args fast path: %v", m)
		}
	}
	msgs, err := wire.MessagesFromPB(ev.GetDataIn().GetMessages())
	if err != nil {
		h.t.Fatalf("plugintest: undecodable input from session %d: %v", sessid, err)
	}
	return msgs
}

// AwaitText waits until session sessid sends a text message whose first
// argument is text. Input before it is consumed and dropped.
func (h *Host) AwaitText(sessid uint64, text string) {
	h.t.Helper()
	for {
		for _, m := range h.AwaitInput(sessid) {
			if s, ok := m.FirstString(); ok && m.Name == "text" && s == text {
				return
			}
		}
	}
}

// AwaitDisconnected waits for the Disconnected event of session sessid and
// returns its reason.
func (h *Host) AwaitDisconnected(sessid uint64) string {
	h.t.Helper()
	return h.Await(fmt.Sprintf("the Disconnected of session %d", sessid), func(ev *portalpb.Event) bool {
		return ev.GetDisconnected() != nil && ev.GetDisconnected().GetSessid() == sessid
	}).GetDisconnected().GetReason()
}

// sessionsPageBytes is the page size the kit reads Sessions in: one
// session a page, so that every check that lists two sessions or more
// pages through them as a host pages through tens of thousands.
const sessionsPageBytes = 1

// Sessions calls Sessions, reading the answer in pages as a host does
// (wire.ReadSessionPages, one session a page), and decodes it.
func (h *Host) Sessions() []contract.SessionData {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	pages, err := wire.ReadSessionPages(ctx, func(ctx context.Context, req *portalpb.SessionsRequest) (*portalpb.SessionsResponse, error) {
		return h.portal.Sessions(ctx, req)
	}, sessionsPageBytes)
	if err != nil {
		h.t.Fatalf("plugintest: Sessions: %v", err)
	}
	out := make([]contract.SessionData, 0, pages.Len())
	if err := pages.Range(func(d contract.SessionData, err error) {
		if err != nil {
			h.t.Fatalf("plugintest: Sessions: %v", err)
		}
		out = append(out, d)
	}); err != nil {
		h.t.Fatalf("plugintest: Sessions: %v", err)
	}
	return out
}

// Session returns session sessid from Sessions, or false.
func (h *Host) Session(sessid uint64) (contract.SessionData, bool) {
	h.t.Helper()
	for _, d := range h.Sessions() {
		if d.Sessid == sessid {
			return d, true
		}
	}
	return contract.SessionData{}, false
}

// Detach is the first half of a host reload: the host asks the plugin to
// detach, waits for Detached (everything the plugin sent before it has
// arrived), closes its side of the link and waits for the link to end. The
// plugin keeps running and keeps its clients; what they type from now on
// waits for the next link.
func (h *Host) Detach() {
	h.t.Helper()
	l := h.link
	h.Send(&portalpb.Event{Kind: &portalpb.Event_Detach{Detach: &portalpb.Detach{}}})
	select {
	case <-l.detached:
	case <-l.done:
		h.t.Fatalf("plugintest: the link ended (%v) before the plugin sent Detached", l.err)
	case <-time.After(h.timeout()):
		h.t.Fatal("plugintest: no Detached from the plugin after Detach")
	}
	if err := l.closeSend(); err != nil {
		h.t.Fatalf("plugintest: close the link: %v", err)
	}
	select {
	case <-l.done:
		if l.err != nil {
			h.t.Fatalf("plugintest: the link ended with %v after a clean Detach", l.err)
		}
	case <-time.After(h.timeout()):
		h.t.Fatal("plugintest: the plugin did not end the link after the host closed its side")
	}
	l.cancel()
	h.dropConn()
}

// DropLink is the host dying: the connection goes away without a Detach.
// The plugin must keep its clients, tell them the server is restarting and
// wait for a host to reattach within the grace period.
func (h *Host) DropLink() {
	h.t.Helper()
	l := h.link
	h.dropConn()
	l.cancel()
	select {
	case <-l.done:
	case <-time.After(h.timeout()):
		h.t.Fatal("plugintest: the link did not end when the host's connection went away")
	}
}

// dropConn closes the current connection without asking the plugin to
// exit, as a host that re-executes or dies leaves it.
func (h *Host) dropConn() {
	if h.conn != nil {
		h.conn.Close()
		h.conn = nil
	}
	h.link = nil
}

// Reattach is a new host image taking the plugin over: a new connection
// (go-plugin's reattach for a binary), Configure again with the same
// config, Sessions, and a new Link. It returns what Sessions answered.
func (h *Host) Reattach() []contract.SessionData {
	h.t.Helper()
	if h.link != nil {
		h.t.Fatal("plugintest: Reattach while a link is open: Detach or DropLink first")
	}
	if h.launched != nil {
		rc := h.launched.ReattachConfig()
		if rc == nil {
			h.t.Fatal("plugintest: no reattach config")
		}
		// go-plugin leaves the negotiated version out of the reattach
		// config; the host keeps it in its record, the kit asks.
		rc.ProtocolVersion = h.launched.NegotiatedVersion()
		cc := launch.Reattach(rc)
		cc.Logger = hclog.New(&hclog.LoggerOptions{Name: "plugin." + h.name, Output: h.hclogBuf, Level: hclog.Info})
		c := hplugin.NewClient(cc)
		h.attached = append(h.attached, c)
		portal, conn, err := dispense(c)
		if err != nil {
			h.t.Fatalf("plugintest: reattach: %v", err)
		}
		h.portal, h.conn = portal, conn
	} else {
		h.dialInProcess()
	}
	resp, err := h.Configure(h.cfg)
	if err != nil {
		h.t.Fatalf("plugintest: Configure after reattach: %v", err)
	}
	if resp.GetProtocolKey() == "" {
		h.t.Fatal("plugintest: Configure after reattach answered no protocol key")
	}
	sessions := h.Sessions()
	h.OpenLink()
	return sessions
}

// Shutdown calls Shutdown with reason.
func (h *Host) Shutdown(reason string) error {
	ctx, cancel := h.ctx()
	defer cancel()
	h.mu.Lock()
	h.shutDown = true
	h.mu.Unlock()
	_, err := h.portal.Shutdown(ctx, &portalpb.ShutdownRequest{Reason: reason})
	return err
}

// StartBot calls StartBot with a bot's config dict and returns the bot's
// session id.
func (h *Host) StartBot(cfg map[string]any) (uint64, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return 0, fmt.Errorf("plugintest: encode bot config: %w", err)
	}
	ctx, cancel := h.ctx()
	defer cancel()
	resp, err := h.portal.StartBot(ctx, &portalpb.StartBotRequest{ConfigJson: b})
	if err != nil {
		return 0, err
	}
	return resp.GetSessid(), nil
}

// AwaitExit waits for the plugin to stop by itself, as it must when no
// host came back within the grace period: the process exits (binary), or
// the server's OnHostLost runs (in process).
func (h *Host) AwaitExit() {
	h.t.Helper()
	deadline := time.Now().Add(h.timeout())
	if h.launched == nil {
		select {
		case <-h.lost:
		case <-time.After(h.timeout()):
			h.t.Fatal("plugintest: the plugin did not stop after the grace period")
		}
		return
	}
	// go-plugin offers no signal for a process's exit, only Exited, so
	// this polls another process's state, briefly and with a bound.
	for !h.launched.Exited() {
		if time.Now().After(deadline) {
			h.t.Fatal("plugintest: the plugin process did not exit after the grace period")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Dial opens a client connection to the plugin with the suite's Dial; it
// is closed when the test ends.
func (h *Host) Dial() Client {
	h.t.Helper()
	if h.s.Dial == nil {
		h.t.Fatal("plugintest: the suite has no Dial")
	}
	c, err := h.s.Dial(h.addr)
	if err != nil {
		h.t.Fatalf("plugintest: dial %s: %v", h.addr, err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}
