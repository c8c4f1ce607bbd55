package sdk

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/portico-mud/portico/sdk/edge"
	"github.com/portico-mud/portico/sdk/identity"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc"
)

// A remote plugin: started by the operator on another machine, it dials
// the host (--connect) over TCP with mutual TLS (--identity) instead of
// being launched by it through go-plugin. The transport is sdk/edge's;
// above it the plugin serves exactly what it serves locally: the portal
// gRPC service on the streams the host opens for it, and its data link on
// another. When the host goes away the plugin keeps its players as a local
// plugin does (MsgHostLost, input kept for the next host), and redials
// with a backoff capped at redialMax for the reattach grace.

// Flags every plugin built on Serve takes. go-plugin launches a plugin
// with no arguments, so neither disturbs a local launch.
type Flags struct {
	// Connect is the host's portal address (server.portal_listen), HOST:PORT.
	// Empty: the plugin is launched by its host as usual.
	Connect string
	// Identity is the directory `portico portal issue NAME --out DIR`
	// wrote: cert.pem, key.pem and ca.pem.
	Identity string
}

// ParseFlags reads a plugin's command line (without the program name).
func ParseFlags(name string, args []string) (Flags, error) {
	var f Flags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.Connect, "connect", "", "run as a remote plugin: dial the host's portal at HOST:PORT")
	fs.StringVar(&f.Identity, "identity", "", "directory with this plugin's cert.pem, key.pem and ca.pem (portico portal issue)")
	if err := fs.Parse(args); err != nil {
		return f, fmt.Errorf("%s: %w (usage: %s [--connect HOST:PORT --identity DIR])", name, err, name)
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("%s: unexpected argument %q (usage: %s [--connect HOST:PORT --identity DIR])", name, fs.Arg(0), name)
	}
	if (f.Connect == "") != (f.Identity == "") {
		return f, fmt.Errorf("%s: --connect and --identity go together: a remote plugin needs both", name)
	}
	if f.Connect != "" {
		if _, _, err := net.SplitHostPort(f.Connect); err != nil {
			return f, fmt.Errorf("%s: --connect %q: %w", name, f.Connect, err)
		}
	}
	return f, nil
}

// Redial backoff of a remote plugin that lost (or never reached) its host.
const (
	redialMin = 100 * time.Millisecond
	redialMax = 2 * time.Second
)

// ServeRemote runs the server as a remote plugin: it dials the host at
// addr with tc (its client certificate, trusting the host's CA), serves
// the contract over the connection, and redials whenever the connection
// ends, until the server stops: the host shut it down, or no host came
// back within the reattach grace (DefaultReattachGrace before any host
// configured it). It returns then.
func (s *Server) ServeRemote(addr string, tc *tls.Config) error {
	id, err := edge.NewInstance()
	if err != nil {
		return err
	}
	secret := make([]byte, wire.SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("data link: secret: %w", err)
	}
	dataLn := edge.NewListener()
	ds := &dataSocket{ln: dataLn, path: edge.DataPath, secret: secret}
	s.mu.Lock()
	if s.data != nil || s.ctx.Err() != nil {
		s.mu.Unlock()
		return errors.New("remote: the server already serves a data socket, or is closed")
	}
	s.data = ds
	// A host that never answers must not keep the plugin forever either.
	if s.linkGen == 0 && s.graceTimer == nil {
		s.awaitFirstLinkLocked(DefaultReattachGrace)
	}
	s.mu.Unlock()
	s.wg.Add(1)
	go s.acceptData(ds)

	grpcLn := edge.NewListener()
	g := grpc.NewServer(wire.ServerOptions()...)
	portalpb.RegisterPortalServer(g, s)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = g.Serve(grpcLn)
	}()
	s.log.Info("remote: dialling the host", "addr", addr, "instance", id.Fingerprint())
	// The connection outlives the server's context by the graceful stop
	// below, so that the host's Shutdown call is answered.
	closing := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.redial(addr, tc, id, grpcLn, dataLn, closing)
	}()
	<-s.ctx.Done()
	stopped := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		g.Stop()
		<-stopped
	}
	close(closing)
	grpcLn.Close()
	dataLn.Close()
	wg.Wait()
	return nil
}

// redial connects to the host and serves each connection until it ends,
// with backoff between attempts, until the server's context ends.
func (s *Server) redial(addr string, tc *tls.Config, id edge.Instance, grpcLn, dataLn *edge.Listener, closing <-chan struct{}) {
	waits := Backoff{Min: redialMin, Max: redialMax, Factor: 2, StableAfter: steadyConn}
	lastErr := ""
	for s.ctx.Err() == nil {
		why := ""
		if sess, err := s.dialHost(addr, tc, id); err != nil {
			why = "cannot reach the host: " + err.Error()
		} else {
			start := time.Now()
			s.serveSession(sess, grpcLn, dataLn, closing)
			if waits.Lasted(time.Since(start)) {
				lastErr = ""
				s.log.Warn("remote: connection to the host ended; redialling", "addr", addr)
			} else {
				// Under TLS 1.3 a host that refuses the plugin's
				// certificate says so after the handshake: the
				// connection just ends.
				why = "the host ended the connection at once (refused? the host's log says why)"
			}
		}
		// The same failure (host down, refused) is logged once.
		if why != "" && why != lastErr {
			s.log.Warn("remote: "+why+"; retrying", "addr", addr)
			lastErr = why
		}
		if !Wait(s.ctx, waits.Next()) {
			return
		}
	}
}

// steadyConn is how long a connection must have lasted for the next dial
// to start again from the shortest backoff: one the host ends at once
// (it refused the plugin) is retried no faster than one that failed.
const steadyConn = 5 * time.Second

// helloID is what the plugin says in its hello: the reattach token the
// host gave its last run, or its own random id before any (or from a host
// that gives none). A host reattaches only to the token it gave.
func (s *Server) helloID(id edge.Instance) edge.Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reattachToken) == edge.InstanceSize {
		copy(id[:], s.reattachToken)
	}
	return id
}

// dialHost dials the host, completes the TLS handshake, says hello, and
// starts the plugin's side of the multiplexer.
func (s *Server) dialHost(addr string, tc *tls.Config, id edge.Instance) (*yamux.Session, error) {
	ctx, cancel := context.WithTimeout(s.ctx, edge.HelloTimeout)
	defer cancel()
	d := tls.Dialer{Config: tc}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("remote: dial %s: %w", addr, err)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(edge.HelloTimeout))
	if err := edge.WriteHello(conn, s.helloID(id)); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Time{})
	sess, err := yamux.Server(conn, edge.MuxConfig())
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("remote: %w", err)
	}
	return sess, nil
}

// serveSession hands each stream the host opens to the gRPC server or the
// data link, by its first byte, until the session ends (or closing is
// closed: the server has stopped, and the session is closed).
func (s *Server) serveSession(sess *yamux.Session, grpcLn, dataLn *edge.Listener, closing <-chan struct{}) {
	go func() {
		select {
		case <-closing:
			sess.Close()
		case <-sess.CloseChan():
		}
	}()
	defer sess.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = st.SetReadDeadline(time.Now().Add(edge.HelloTimeout))
			var kind [1]byte
			if _, err := io.ReadFull(st, kind[:]); err != nil {
				st.Close()
				return
			}
			_ = st.SetReadDeadline(time.Time{})
			switch kind[0] {
			case edge.StreamGRPC:
				grpcLn.Put(edge.HalfCloser{Stream: st})
			case edge.StreamData:
				dataLn.Put(edge.HalfCloser{Stream: st})
			default:
				s.log.Warn("remote: a stream of an unknown kind from the host; closed", "kind", kind[0])
				st.Close()
			}
		}()
	}
}

// serveRemote is Serve for a plugin started with --connect: it loads the
// identity and serves the host over it until the server stops.
func serveRemote(srv *Server, f Flags, log *slog.Logger) {
	tc, err := identity.Load(f.Identity)
	if err != nil {
		log.Error("remote: cannot load the identity; exiting", "err", err)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := srv.ServeRemote(f.Connect, tc); err != nil {
		log.Error("remote: exiting", "err", err)
		os.Exit(1)
	}
}
