package sdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Validator is implemented by a plugin that can check a config block
// without starting anything (contract version 2's Validate; Caddy's
// Validate, Telegraf's Init). The host calls it before it starts the plugin
// (`portico start`, `portico config check`, in a process launched for that
// alone, where Configure is never called) and on the running plugin before
// it applies a live edit of its block, so that a typo never stops a
// running protocol. A plugin without it is checked by starting it, as
// before version 2.
type Validator interface {
	// Validate does what Configure would do to the block short of acting
	// on it: decode it (Config.Decode), check every value, and check that
	// each address it would listen on is free (Config.CheckListen, which
	// skips the addresses in cfg.Listening: the running plugin's own). It
	// must not listen, connect, write files or change the running plugin:
	// it may run at any time beside it. It returns every problem, each a
	// *ConfigError naming its key (KeyError; errors.Join for several);
	// nil means Configure would take the block.
	Validate(ctx context.Context, cfg Config) error
}

// BotValidator is implemented by a plugin that starts bots and can check
// a bot's config dict without starting it (ValidateRequest.bot, contract
// version 2). The host calls it on the running plugin before it stores a
// bot (`portico bot add`, @irc2chan), so that a mistake is told to whoever
// made the bot, naming the key, and nothing is stored.
type BotValidator interface {
	// ValidateBot does what StartBot would do to the dict short of
	// starting the bot: decode it and check every value. The dict has the
	// keys the user gave and those the host knows before the bot exists
	// (bot, game_channel, server_name), not uid. It returns every problem,
	// each a *ConfigError naming its key where it can; nil means StartBot
	// would take the dict.
	ValidateBot(ctx context.Context, cfg Config) error
}

// Reconfigurer is implemented by a plugin that can take a new config
// block, or new host facts (the limits of a live edit, a new server name),
// while it runs, keeping its sessions: new idle timeouts, limits, MSSP
// fields, even a new listen address (open the new listener, close the old
// one, keep the open connections).
//
// A plugin without it keeps its config until it restarts: the host
// restarts it for a new block; host facts reach it at its next start (the
// connection limits that Portal.NewSession applies take effect at once
// whatever the plugin does).
type Reconfigurer interface {
	// Reconfigure gets the whole new block, already passed by Validate,
	// and the host's facts. When every change can be applied in place it
	// applies them and returns the plugin's Info as Configure would (its
	// listeners as they are now). When one cannot (a new TLS listener, a
	// bot's API URL) it changes nothing and returns RestartNeeded(key):
	// the host then restarts the plugin, telling its players. Any other
	// error also means nothing changed: the host keeps the plugin as it
	// was and reports the error.
	Reconfigure(ctx context.Context, cfg Config) (Info, error)
}

// ErrRestartNeeded is wrapped by Reconfigure's error for a change that
// only a restart applies.
var ErrRestartNeeded = errors.New("changes only when the plugin restarts")

// RestartNeeded returns Reconfigure's error for a change of key that only
// a restart applies.
func RestartNeeded(key string) error {
	return fmt.Errorf("config key %q %w", key, ErrRestartNeeded)
}

// Listener is one address a plugin serves clients on, as Info reports it
// and the host's console shows it ("telnet on 0.0.0.0:4000").
type Listener struct {
	// Name is what listens: "telnet", "telnet+tls", "ssh", "webclient".
	Name string
	// Address is the bound address, host:port.
	Address string
	// URL is shown instead of Address when set ("http://0.0.0.0:4002/").
	URL string
}

// ListenerOf describes ln, listening for name.
func ListenerOf(name string, ln net.Listener) Listener {
	return Listener{Name: name, Address: ln.Addr().String()}
}

// CheckListen checks that addr, the value of config key key, is an
// address this plugin could listen on: well formed, and not taken by
// another process. It binds the address and releases it at once, unless
// cfg.Listening holds it (the running plugin listens there already). An
// empty addr is not checked. Its error is a *ConfigError such as
// `0.0.0.0:4000: address already in use`.
func (c Config) CheckListen(key, addr string) error {
	if addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return KeyError(key, "%q is not host:port: %s", addr, strings.TrimPrefix(err.Error(), "address "+addr+": "))
	}
	if held(addr, c.Listening) {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return KeyError(key, "%s: %s", addr, listenCause(err))
	}
	ln.Close()
	return nil
}

// Listen listens on addr, the value of config key key, for Configure or
// Reconfigure: its error is a *ConfigError worded as CheckListen's
// (`0.0.0.0:4000: address already in use`).
func Listen(key, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, KeyError(key, "%s: %s", addr, listenCause(err))
	}
	return ln, nil
}

// listenCause says why a listen failed, without Go's "listen tcp ..."
// wrapping.
func listenCause(err error) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "address already in use"
	case errors.Is(err, syscall.EACCES):
		return "permission denied (ports below 1024 need privileges)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "cannot assign requested address (no such address on this machine)"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// held reports whether one of the bound addresses in listening serves
// addr: the same port on the same IP, or on any address when both are
// wildcards (":4000" and "[::]:4000").
func held(addr string, listening []string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "0" {
		return false
	}
	var ip netip.Addr
	if host != "" {
		if ip, err = netip.ParseAddr(host); err != nil {
			// A host name: resolve it as Listen would.
			ta, err := net.ResolveTCPAddr("tcp", addr)
			if err != nil {
				return false
			}
			ip, _ = netip.AddrFromSlice(ta.IP)
		}
	}
	for _, l := range listening {
		ap, err := netip.ParseAddrPort(l)
		if err != nil || fmt.Sprint(ap.Port()) != port {
			continue
		}
		wild := !ip.IsValid() || ip.IsUnspecified()
		if wild && ap.Addr().IsUnspecified() {
			return true
		}
		if !wild && ip.Unmap() == ap.Addr().Unmap() {
			return true
		}
	}
	return false
}

// hostFromPB reads the host's facts off the wire.
func hostFromPB(h *portalpb.HostInfo) HostInfo {
	return HostInfo{ServerName: h.GetServerName(), DataDir: h.GetDataDir(), Version: h.GetVersion(),
		ReattachGrace:   time.Duration(h.GetReattachGraceMs()) * time.Millisecond,
		FiguresInterval: time.Duration(h.GetFiguresIntervalMs()) * time.Millisecond,
		Limits:          wire.LimitsFromPB(h)}
}

// Validate checks a config block through the plugin's Validator without
// touching the running plugin; Unimplemented when the plugin has none.
func (s *Server) Validate(ctx context.Context, req *portalpb.ValidateRequest) (*portalpb.ValidateResponse, error) {
	var check func(context.Context, Config) error
	if req.GetBot() {
		v, ok := s.plugin.(BotValidator)
		if !ok {
			return nil, status.Error(codes.Unimplemented, "this plugin does not validate bot configs; starting the bot checks its config")
		}
		check = v.ValidateBot
	} else {
		v, ok := s.plugin.(Validator)
		if !ok {
			return nil, status.Error(codes.Unimplemented, "this plugin does not validate configs; starting it checks its config")
		}
		check = v.Validate
	}
	resp := &portalpb.ValidateResponse{}
	raw, err := decodeConfig(req.GetConfigJson())
	if err == nil {
		err = check(ctx, Config{Raw: raw, Host: hostFromPB(req.GetHost()), Listening: req.GetHeldAddresses()})
	}
	for _, p := range ConfigProblems(err) {
		resp.Problems = append(resp.Problems, &portalpb.ConfigProblem{Key: p.Key, Message: p.Msg, UnknownKey: p.Unknown})
	}
	return resp, nil
}

// infoResponse is Configure's answer for info.
func infoResponse(info Info) *portalpb.ConfigureResponse {
	resp := &portalpb.ConfigureResponse{ProtocolKey: info.ProtocolKey, Capabilities: info.Capabilities}
	for _, l := range info.Listeners {
		resp.Listeners = append(resp.Listeners, &portalpb.Listener{Name: l.Name, Address: l.Address, Url: l.URL})
	}
	return resp
}

// reconfigureLocked answers a Configure to a plugin already configured:
// the same config and host facts (a reattach) change nothing; otherwise a
// Reconfigurer applies them in place or says that a restart is needed.
// prev are the host facts the plugin had. s.mu is held.
func (s *Server) reconfigureLocked(req *portalpb.ConfigureRequest, prev, host HostInfo) (*portalpb.ConfigureResponse, error) {
	sameConfig := string(req.GetConfigJson()) == s.configJSON
	if sameConfig && prev == host {
		resp := infoResponse(*s.info)
		resp.Reconfigured = portalpb.Reconfigured_RECONFIGURED_UNCHANGED
		return resp, nil
	}
	rc, ok := s.plugin.(Reconfigurer)
	if !ok {
		resp := infoResponse(*s.info)
		resp.Reconfigured = portalpb.Reconfigured_RECONFIGURED_RESTART_NEEDED
		resp.RestartReason = "the plugin applies a new config only when it restarts"
		return resp, nil
	}
	raw, err := decodeConfig(req.GetConfigJson())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	info, err := rc.Reconfigure(s.ctx, Config{Raw: raw, Host: host})
	if errors.Is(err, ErrRestartNeeded) {
		s.log.Info("reconfigure: needs a restart", "why", err)
		resp := infoResponse(*s.info)
		resp.Reconfigured = portalpb.Reconfigured_RECONFIGURED_RESTART_NEEDED
		resp.RestartReason = err.Error()
		return resp, nil
	}
	if err != nil {
		s.log.Warn("reconfigure: refused; the plugin runs on as it was", "err", err)
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.info = &info
	s.configJSON = string(req.GetConfigJson())
	s.log.Info("reconfigured in place", "config_changed", !sameConfig, "host_changed", prev != host)
	resp := infoResponse(info)
	resp.Reconfigured = portalpb.Reconfigured_RECONFIGURED_APPLIED
	return resp, nil
}
