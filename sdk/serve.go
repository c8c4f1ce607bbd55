package sdk

import (
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
	"syscall"

	"github.com/hashicorp/go-hclog"
	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Serve runs plugin p as a Portico protocol plugin. It is the whole of a
// plugin's main: it sets up logging to <data_dir>/logs/<name>.log, ignores
// SIGPIPE and SIGHUP (a plugin must outlive its host's pipes, go-plugin#114),
// and serves the portal contract until the host shuts the plugin down.
func Serve(p Plugin) {
	signal.Ignore(syscall.SIGPIPE, syscall.SIGHUP)
	name := os.Getenv(EnvPluginName)
	if name == "" {
		name = filepath.Base(os.Args[0])
	}
	logw, closeLog := openLog(os.Getenv(EnvDataDir), name)
	defer closeLog()
	log := slog.New(slog.NewTextHandler(logw, nil)).With("plugin", name)
	slog.SetDefault(log)

	srv := NewServer(p, log)
	defer srv.Close()
	hplugin.Serve(&hplugin.ServeConfig{
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]hplugin.PluginSet{
			ProtocolVersion: {PluginName: &GRPCPlugin{Impl: srv}},
		},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(contract.MaxMessageBytes), grpc.MaxSendMsgSize(contract.MaxMessageBytes))
			return grpc.NewServer(opts...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{Name: name, Output: logw, Level: hclog.Info}),
	})
}

// openLog opens the plugin's log file under dataDir. Without a data dir
// (run by hand) it logs to stderr.
func openLog(dataDir, name string) (io.Writer, func()) {
	if dataDir == "" {
		return os.Stderr, func() {}
	}
	dir := filepath.Join(dataDir, "logs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fmt.Fprintf(os.Stderr, "%s: log dir: %v\n", name, err)
		return os.Stderr, func() {}
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: log file: %v\n", name, err)
		return os.Stderr, func() {}
	}
	return f, func() { f.Close() }
}

// GRPCPlugin is the go-plugin glue for the portal service. The plugin side
// sets Impl; the host side uses it as is and gets a
// portalpb.PortalClient from Dispense.
type GRPCPlugin struct {
	hplugin.NetRPCUnsupportedPlugin
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
	// linkStop stops the current link's sender; linkDone is closed when it
	// has stopped.
	linkStop context.CancelFunc
	linkDone chan struct{}
}

var _ portalpb.PortalServer = (*Server)(nil)

// NewServer wraps p.
func NewServer(p Plugin, log *slog.Logger) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{plugin: p, portal: newPortal(log), log: log, ctx: ctx, cancel: cancel}
}

// Portal returns the server's portal.
func (s *Server) Portal() *Portal { return s.portal }

// Close stops everything the server runs.
func (s *Server) Close() { s.cancel() }

// Configure starts the plugin once; a second call (a host that reattached)
// answers with the same info.
func (s *Server) Configure(_ context.Context, req *portalpb.ConfigureRequest) (*portalpb.ConfigureResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := req.GetHost()
	host := HostInfo{ServerName: h.GetServerName(), DataDir: h.GetDataDir(), Version: h.GetVersion(),
		MaxInputLength: int(h.GetMaxInputLength())}
	s.portal.mu.Lock()
	s.portal.host = host
	s.portal.mu.Unlock()
	s.portal.grant(h.GetSessidStart(), h.GetSessidCount())
	if s.info != nil {
		if string(req.GetConfigJson()) != s.configJSON {
			s.log.Warn("configure: plugin already running; new config ignored until restart")
		}
		return &portalpb.ConfigureResponse{ProtocolKey: s.info.ProtocolKey, Capabilities: s.info.Capabilities}, nil
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
	s.log.Info("configured", "protocol", info.ProtocolKey)
	return &portalpb.ConfigureResponse{ProtocolKey: info.ProtocolKey, Capabilities: info.Capabilities}, nil
}

func decodeConfig(b []byte) (map[string]any, error) {
	if len(b) == 0 {
		return map[string]any{}, nil
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("config: not a JSON object: %w", err)
	}
	if raw == nil {
		raw = map[string]any{}
	}
	return raw, nil
}

// Link serves the host's link stream. A new link replaces the old one; the
// events queued meanwhile go out on the new one, in order.
func (s *Server) Link(stream portalpb.Portal_LinkServer) error {
	s.mu.Lock()
	if s.linkStop != nil {
		s.linkStop()
		<-s.linkDone
	}
	ctx, stop := context.WithCancel(stream.Context())
	done := make(chan struct{})
	s.linkStop, s.linkDone = stop, done
	s.mu.Unlock()

	go func() {
		defer close(done)
		if err := s.portal.outbox.Run(ctx, stream.Send); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("link: send", "err", err)
		}
	}()
	s.log.Info("link: host attached")
	var err error
	for {
		var f *portalpb.Frame
		f, err = stream.Recv()
		if err != nil {
			break
		}
		s.portal.handleFrame(f)
	}
	stop()
	<-done
	if errors.Is(err, io.EOF) {
		err = nil
	}
	s.log.Info("link: host detached", "err", err)
	return nil
}

// Sessions returns every live session's data (portal_sessions_sync).
func (s *Server) Sessions(context.Context, *portalpb.SessionsRequest) (*portalpb.SessionsResponse, error) {
	resp := &portalpb.SessionsResponse{}
	for _, d := range s.portal.sessionsData() {
		pd, err := contract.SessionToPB(d)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		resp.Sessions = append(resp.Sessions, pd)
	}
	return resp, nil
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
	return &portalpb.ShutdownResponse{}, nil
}
