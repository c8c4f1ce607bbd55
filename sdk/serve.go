package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/sdk/cpuprofile"
	"github.com/portico-mud/portico/sdk/freemem"
	"github.com/portico-mud/portico/sdk/logging"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Serve runs plugin p as a Portico protocol plugin. It is the whole of a
// plugin's main: it sets up logging to <data_dir>/logs/<name>.log, ignores
// SIGPIPE and SIGHUP (a plugin must outlive its host's pipes, go-plugin#114),
// and serves the portal contract until the host shuts the plugin down, or
// no host came back within the grace period. It then returns, having
// removed the link's socket.
//
// Every plugin takes two flags, for a plugin the operator runs on another
// machine (a remote plugin): --connect HOST:PORT dials the host's
// server.portal_listen instead of waiting for go-plugin's launch, and
// --identity DIR names the key, certificate and CA certificate `portico
// portal issue` wrote for it (see ServeRemote). A host launches a plugin
// without arguments.
func Serve(p Plugin) {
	signal.Ignore(syscall.SIGPIPE, syscall.SIGHUP)
	name := os.Getenv(EnvPluginName)
	if name == "" {
		name = filepath.Base(os.Args[0])
	}
	flags, err := ParseFlags(filepath.Base(os.Args[0]), os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	logOpts := logging.FromEnv()
	logw, closeLog := openLog(os.Getenv(EnvDataDir), name, logOpts)
	defer closeLog()
	log := slog.New(logOpts.Handler(logw)).With("plugin", name)
	slog.SetDefault(log)

	stopProfile, err := cpuprofile.Start(name)
	if err != nil {
		log.Warn("profile", "err", err)
	}
	defer stopProfile()
	srv := NewServer(p, log)
	srv.onShutdown = stopProfile
	defer srv.Close()
	// Set-up garbage goes back to the OS after a burst of connections.
	srv.portal.release = freemem.New()
	defer srv.portal.release.Close()
	if flags.Connect != "" {
		serveRemote(srv, flags, log)
		return
	}
	var gs atomic.Pointer[grpc.Server]
	srv.OnHostLost = func() {
		// Stopping go-plugin's gRPC server makes its Serve return, which
		// closes the listener and so removes the socket file; os.Exit
		// would leave a dead socket behind. Serve then returns to main.
		if g := gs.Load(); g != nil {
			g.Stop()
			return
		}
		os.Exit(0)
	}
	restoreUmask := privateUmask()
	defer restoreUmask()
	// The data socket goes beside go-plugin's, in the host's private
	// directory. Without one (a directory too long for a socket path, say)
	// the host links over the Link stream, as with an older plugin.
	if dir := os.Getenv(hplugin.EnvUnixSocketDir); dir != "" {
		if err := srv.ListenData(dir); err != nil {
			log.Warn("no data socket; the host will use the Link stream", "err", err)
		}
	}
	hplugin.Serve(&hplugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: PluginSets(srv),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			// go-plugin builds the server after it has bound the socket.
			restoreUmask()
			opts = append(opts, wire.ServerOptions()...)
			g := grpc.NewServer(opts...)
			gs.Store(g)
			return g
		},
		// go-plugin's own messages, in the plugin's one log format.
		Logger: logging.HCLog(log, "go-plugin", logging.HCLogOptions{}),
	})
}

// openLog opens the plugin's log file under dataDir, rotated as the
// host's log options say. Without a data dir (run by hand) it logs to
// stderr.
func openLog(dataDir, name string, o logging.Options) (io.Writer, func()) {
	if dataDir == "" {
		return os.Stderr, func() {}
	}
	f, err := logging.OpenFile(filepath.Join(dataDir, "logs", name+".log"), o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return os.Stderr, func() {}
	}
	return f, func() { f.Close() }
}

// GRPCPlugin is the go-plugin glue for the portal service. The plugin side
// sets Impl; the host side uses it as is and gets a
// portalpb.PortalClient from Dispense.
type GRPCPlugin struct {
	hplugin.NetRPCUnsupportedPlugin
	// Impl serves the contract on the plugin side; nil on the host side.
	Impl *Server
}

// GRPCServer registers the portal service.
func (g *GRPCPlugin) GRPCServer(_ *hplugin.GRPCBroker, s *grpc.Server) error {
	portalpb.RegisterPortalServer(s, g.Impl)
	return nil
}

// GRPCClient returns the host's client of the portal service.
func (g *GRPCPlugin) GRPCClient(_ context.Context, _ *hplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return portalpb.NewPortalClient(c), nil
}

// Server implements the portal gRPC service around a Plugin. Serve makes
// one; tests and the conformance kit can make their own with NewServer.
type Server struct {
	portalpb.UnimplementedPortalServer
	plugin Plugin
	portal *Portal
	log    *slog.Logger
	// ctx lives as long as the plugin: listeners and bots run under it.
	ctx    context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	info       *Info
	configJSON string
	// reattachToken is the token the host gave the last run of a remote
	// plugin (HostInfo.reattach_token): the next hello says it in place
	// of the process's own id (remote.go).
	reattachToken []byte
	// linkStop stops the current link (a data socket's connection or a
	// Link stream); linkDone is closed when it no longer writes.
	linkStop context.CancelFunc
	linkDone chan struct{}
	// data is the data socket, once ListenData made it.
	data *dataSocket
	// wg counts the data socket's goroutines, which Close waits for.
	wg sync.WaitGroup
	// linkGen counts links, so that the end of an old one does not start
	// the grace period after a new one arrived. linkUp is set while a
	// link is served.
	linkGen    uint64
	linkUp     bool
	graceTimer *time.Timer

	// snapshots holds a paged Sessions answer between its pages.
	snapshots sessionSnapshots

	// onShutdown runs when the host shuts the plugin down, before it is
	// killed (flushes a CPU profile).
	onShutdown func()

	// OnHostLost runs after the grace period ran out and the plugin shut
	// down (Serve exits the process; tests observe it).
	OnHostLost func()
}

var _ portalpb.PortalServer = (*Server)(nil)

// NewServer wraps p.
func NewServer(p Plugin, log *slog.Logger) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{plugin: p, portal: newPortal(log), log: log, ctx: ctx, cancel: cancel}
}

// Portal returns the server's portal.
func (s *Server) Portal() *Portal { return s.portal }

// closeWait bounds Close's wait for the data socket's goroutines: a link
// reader held in a plugin's Conn.Send that never returns must not keep
// the plugin from exiting.
const closeWait = 5 * time.Second

// Close stops everything the server runs, and waits (at most closeWait)
// for the data socket's goroutines to end.
func (s *Server) Close() {
	s.cancel()
	s.snapshots.release()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeWait):
		s.log.Warn("data socket: a link reader is still held by the plugin's own code; exiting without it")
	}
}

// Configure starts the plugin once. A second call (a host that
// reattached, or a live edit) answers with the same info when nothing
// changed, and otherwise applies the change in place when the plugin is a
// Reconfigurer (see reconfigureLocked). The host's connection limits take
// effect at once either way: Portal.NewSession reads them afresh.
func (s *Server) Configure(ctx context.Context, req *portalpb.ConfigureRequest) (*portalpb.ConfigureResponse, error) {
	resp, err := s.configure(ctx, req)
	s.dataResponse(resp)
	return resp, err
}

// configure is Configure without the data socket in its answer.
func (s *Server) configure(_ context.Context, req *portalpb.ConfigureRequest) (*portalpb.ConfigureResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := req.GetHost()
	host := hostFromPB(h)
	if t := h.GetReattachToken(); len(t) > 0 {
		s.reattachToken = append([]byte(nil), t...)
	}
	prev := s.portal.Host()
	s.portal.inputs.offerReceipt(req.GetInputReceipt(), s.linkUp)
	s.portal.setHost(host)
	s.portal.grant(h.GetSessidStart(), h.GetSessidCount())
	if s.info != nil {
		// How often figures go to the host is the SDK's own business,
		// applied by setHost: not a change for the plugin to apply.
		prev.FiguresInterval = host.FiguresInterval
		return s.reconfigureLocked(req, prev, host)
	}
	raw, err := decodeConfig(req.GetConfigJson())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	info, err := s.plugin.Configure(s.ctx, Config{Raw: raw, Host: host}, s.portal)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.info = &info
	s.configJSON = string(req.GetConfigJson())
	if s.linkGen == 0 {
		s.awaitFirstLinkLocked(max(host.ReattachGrace, DefaultReattachGrace))
	}
	s.log.Info("configured", "protocol", info.ProtocolKey)
	return infoResponse(info), nil
}

func decodeConfig(b []byte) (map[string]any, error) {
	if len(b) == 0 {
		return map[string]any{}, nil
	}
	// Numbers stay json.Number, exactly as written: a Discord id
	// (a 64-bit snowflake such as 1234567890123456789) read as a float64
	// would come out as another id.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("config: not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("config: not a JSON object: data after the object")
	}
	if raw == nil {
		raw = map[string]any{}
	}
	return raw, nil
}

// Link serves the host's link stream, for a host that does not dial the
// data socket (see datalink.go). A new link (a stream or a data socket
// connection) replaces the old one; the events queued meanwhile go out on
// the new one, in order. A Detach from the
// host (reload) stops the sending side after a final Detached event.
func (s *Server) Link(stream portalpb.Portal_LinkServer) error {
	ctx, stop, gen, done := s.takeLink(stream.Context())
	// Send the stream's headers at once: the host (or the conformance kit)
	// learns that this plugin has taken the link over before any event.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		s.log.Warn("link: send headers", "err", err)
	}

	go func() {
		defer close(done)
		if err := s.portal.outbox.Run(ctx, stream.Send); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("link: send", "err", err)
		}
	}()
	stopFigures := s.startFigures(ctx)
	s.log.Info("link: host attached")
	var err error
	detached := false
	for {
		var f *portalpb.Frame
		f, err = stream.Recv()
		if err != nil {
			break
		}
		for _, ev := range f.GetEvents() {
			if _, ok := ev.Kind.(*portalpb.Event_Detach); ok {
				if !detached {
					detached = true
					s.detach(stream, stop, done)
				}
				continue
			}
			s.portal.handleEvent(ev)
		}
	}
	stop()
	stopFigures()
	<-done
	if errors.Is(err, io.EOF) {
		err = nil
	}
	s.log.Info("link: host detached", "err", err, "planned", detached)
	s.hostGone(gen, detached)
	return nil
}

// detach stops the link's sender and sends Detached as its last event:
// everything before it has gone out, everything after waits in the outbox.
func (s *Server) detach(stream portalpb.Portal_LinkServer, stop context.CancelFunc, done <-chan struct{}) {
	stop()
	<-done
	ev := &portalpb.Event{Kind: &portalpb.Event_Detached{Detached: &portalpb.Detached{}}}
	if err := stream.Send(&portalpb.Frame{Events: []*portalpb.Event{ev}}); err != nil {
		s.log.Warn("link: send detached", "err", err)
	}
	s.log.Info("link: detaching for a host reload")
}

// awaitFirstLinkLocked arms the grace period before the first link: a host
// that configured the plugin and died before opening the link must not
// leave it running forever. The first link stops it. s.mu is held.
func (s *Server) awaitFirstLinkLocked(d time.Duration) {
	if s.graceTimer != nil {
		s.graceTimer.Stop()
	}
	gen := s.linkGen
	s.graceTimer = time.AfterFunc(d, func() { s.graceExpired(gen) })
}

// DefaultReattachGrace is how long a plugin waits for a host to come back
// when the host did not say how long.
const DefaultReattachGrace = 60 * time.Second

// Messages clients see when the host goes away unannounced.
const (
	MsgHostLost    = "The server is restarting; please wait a moment."
	MsgHostNotBack = "The server did not come back. Please reconnect later."
	reasonHostGone = "host gone"
)

// hostGone starts the grace period after link gen ended, unless a newer
// link already replaced it. Clients are told the server is restarting
// unless the host announced it (a planned reload).
func (s *Server) hostGone(gen uint64, planned bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen == s.linkGen {
		s.linkUp = false
		s.portal.hostAway.Store(true)
		s.portal.wakeIDWaiters()
	}
	if gen != s.linkGen || s.ctx.Err() != nil {
		return
	}
	if !planned {
		s.portal.lane.do(func() {
			for _, sess := range s.portal.All() {
				sess.conn.Send(sess, []Message{Text(MsgHostLost)})
			}
		})
	}
	grace := s.portal.Host().ReattachGrace
	if grace <= 0 {
		grace = DefaultReattachGrace
	}
	s.graceTimer = time.AfterFunc(grace, func() { s.graceExpired(gen) })
}

// graceExpired closes every client and stops the plugin when no host came
// back in time, so that no plugin is left running forever without one.
func (s *Server) graceExpired(gen uint64) {
	s.mu.Lock()
	// A host that shut the plugin down (or Close) after the link ended has
	// already stopped it: do not shut it down twice.
	if gen != s.linkGen || s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	configured := s.info != nil
	s.mu.Unlock()
	s.log.Warn("no host came back; closing clients and exiting")
	for _, sess := range s.portal.All() {
		if s.portal.removeSession(sess, reasonHostGone, false) {
			sess.conn.Close(MsgHostNotBack)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if configured {
		if err := s.plugin.Shutdown(ctx); err != nil {
			s.log.Warn("shutdown", "err", err)
		}
	}
	s.cancel()
	if s.OnHostLost != nil {
		s.OnHostLost()
	}
}

// Sessions returns every live session's data (portal_sessions_sync),
// whole or, for a host that asks for pages (SessionsRequest.page_bytes),
// one page at a time. The list is encoded by hand (wire.SessionList) and
// carried as the response's unknown fields, which marshal as they are: the
// host reads the same bytes as if they were resp.Sessions.
//
// A paged answer is a snapshot: the whole list is encoded at the first
// page's call, the point in time a single answer was taken at, and the
// later pages are cut from it (sessionSnapshots), so that no session is
// listed twice or missed as sessions come and go between the calls. What
// happens after the snapshot goes to the host as events on the link, which
// the host opens only once it has restored the snapshot: a session that
// connects while the host pages is announced after the restore, one that
// leaves is dropped after it, as with a single answer.
func (s *Server) Sessions(ctx context.Context, req *portalpb.SessionsRequest) (*portalpb.SessionsResponse, error) {
	if req.GetSnapshot() != 0 {
		return s.snapshots.get(req.GetSnapshot(), req.GetPage())
	}
	if req.GetPage() != 0 {
		return nil, status.Error(codes.InvalidArgument, "sessions: a later page names its snapshot")
	}
	// What the last link queued for the clients (a reload's announcement,
	// the sync after it) is applied first: the list is of what it left.
	if err := s.portal.lane.wait(ctx); err != nil {
		return nil, status.Error(codes.DeadlineExceeded, "sessions: the last host's events are still being applied")
	}
	var list wire.SessionList
	if err := s.portal.appendSessions(&list); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if req.GetPageBytes() == 0 {
		// A host that does not page (built before pages) gets it whole.
		resp := &portalpb.SessionsResponse{}
		resp.ProtoReflect().SetUnknown(list.Bytes())
		return resp, nil
	}
	sn, err := s.snapshots.take(&list, min(int(req.GetPageBytes()), sessionsPageBytes))
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return sn.page(0), nil
}

// StartBot starts a bot session if the plugin can.
func (s *Server) StartBot(ctx context.Context, req *portalpb.StartBotRequest) (*portalpb.StartBotResponse, error) {
	bs, ok := s.plugin.(BotStarter)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this plugin does not start bots")
	}
	raw, err := decodeConfig(req.GetConfigJson())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	sess, err := bs.StartBot(s.ctx, Config{Raw: raw, Host: s.portal.Host()})
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &portalpb.StartBotResponse{Sessid: sess.ID()}, nil
}

// Shutdown closes every session with the reason and stops the plugin.
func (s *Server) Shutdown(ctx context.Context, req *portalpb.ShutdownRequest) (*portalpb.ShutdownResponse, error) {
	// Output already queued for the clients goes first (bounded by ctx).
	_ = s.portal.lane.wait(ctx)
	for _, sess := range s.portal.All() {
		if s.portal.removeSession(sess, req.GetReason(), false) {
			sess.conn.Close(req.GetReason())
		}
	}
	s.mu.Lock()
	configured := s.info != nil
	s.mu.Unlock()
	var err error
	if configured {
		err = s.plugin.Shutdown(ctx)
	}
	s.cancel()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	s.log.Info("shut down", "reason", req.GetReason())
	if s.onShutdown != nil {
		s.onShutdown()
	}
	return &portalpb.ShutdownResponse{}, nil
}
