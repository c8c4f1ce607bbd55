package sdk

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// The plugin's data socket: the Link's traffic off gRPC.
//
// Every event of the contract (connect, input, output, syncs, disconnects,
// the reload's Detach/Detached, session id grants) travels on a unix
// socket of the plugin's own as length-prefixed frames (sdk/wire), written
// inline by whichever goroutine has them and read by one goroutine on
// each side, instead of on the gRPC Link stream, whose HTTP/2 and
// scheduling cost most of a round trip. go-plugin's gRPC connection
// carries only the control calls (Configure, Validate, Sessions, StartBot,
// Shutdown).
//
// The plugin listens once, for its whole life (it outlives hosts): the
// socket is made 0600 in the host's 0700 run directory, and its path and
// a random secret are told to the host in every Configure answer. A host
// dials it, sends the secret as its first frame (checked in constant
// time), and takes the link over, as a new Link stream would: a newer
// connection replaces the older one. Under go-plugin's AutoMTLS the data
// socket speaks TLS too, requiring the host's AutoMTLS client certificate.
//
// A plugin still serves the Link stream, for a host built before the data
// socket (contract version 2 promises it); such a host never dials.

// dataSocket is the plugin's listening data socket.
type dataSocket struct {
	ln     net.Listener
	path   string
	secret []byte
	// tls, when set, wraps every connection (AutoMTLS); cert is its
	// certificate (DER), told to the host in Configure.
	tls  *tls.Config
	cert []byte
}

// envClientCert is where go-plugin's AutoMTLS hands the plugin the host's
// client certificate (PEM).
const envClientCert = "PLUGIN_CLIENT_CERT"

// helloTimeout bounds a new connection's hello.
const helloTimeout = 10 * time.Second

// ListenData makes the plugin's data socket in dir (Serve uses the
// directory the host names for go-plugin's socket) and serves hosts that
// dial it until the server is closed; the socket is removed then. Serve
// calls it; a test or the conformance kit's in-process mode calls it for a
// server of its own. A server that never listens offers the host the Link
// stream only.
func (s *Server) ListenData(dir string) error {
	secret := make([]byte, wire.SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("data socket: secret: %w", err)
	}
	var name [4]byte
	if _, err := rand.Read(name[:]); err != nil {
		return fmt.Errorf("data socket: name: %w", err)
	}
	// "data" and a uint32 in decimal: no longer than go-plugin's names,
	// which the host's socket directory is checked against.
	path := filepath.Join(dir, "data"+strconv.FormatUint(uint64(binary.BigEndian.Uint32(name[:])), 10))
	ds := &dataSocket{path: path, secret: secret}
	if pem := os.Getenv(envClientCert); pem != "" {
		tc, cert, err := dataTLS([]byte(pem))
		if err != nil {
			return fmt.Errorf("data socket: %w", err)
		}
		ds.tls, ds.cert = tc, cert
	}
	restore := socketUmask()
	ln, err := net.Listen("unix", path)
	restore()
	if err != nil {
		return fmt.Errorf("data socket: %w", err)
	}
	ds.ln = ln
	s.mu.Lock()
	if s.data != nil || s.ctx.Err() != nil {
		s.mu.Unlock()
		ln.Close()
		return errors.New("data socket: already listening, or the server is closed")
	}
	s.data = ds
	s.mu.Unlock()
	s.wg.Add(1)
	go s.acceptData(ds)
	return nil
}

// dataTLS is the data socket's TLS config under AutoMTLS: a certificate of
// its own (go-plugin keeps the one of the gRPC socket to itself; the host
// learns this one over that mutually authenticated connection, in
// Configure), and the host's AutoMTLS client certificate, clientPEM, as
// the only one accepted.
func dataTLS(clientPEM []byte) (*tls.Config, []byte, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(clientPEM) {
		return nil, nil, fmt.Errorf("%s does not parse", envClientCert)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("TLS serial: %w", err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Minute),
		NotAfter:    time.Now().Add(100 * 365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	}, der, nil
}

// dataResponse adds the data socket to a Configure answer.
func (s *Server) dataResponse(resp *portalpb.ConfigureResponse) {
	s.mu.Lock()
	ds := s.data
	s.mu.Unlock()
	if ds == nil || resp == nil {
		return
	}
	resp.DataPath, resp.DataSecret, resp.DataCert = ds.path, ds.secret, ds.cert
}

// acceptData takes hosts' connections until the server is closed.
func (s *Server) acceptData(ds *dataSocket) {
	defer s.wg.Done()
	stop := context.AfterFunc(s.ctx, func() { ds.ln.Close() })
	defer stop()
	defer ds.ln.Close()
	for {
		conn, err := ds.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of files, most likely: wait a moment rather than spin.
			s.log.Warn("data socket: accept", "err", err)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		s.wg.Add(1)
		go s.serveDataConn(ds, conn)
	}
}

// serveDataConn checks a new connection's hello and serves it as the
// link. A connection that does not prove itself with the secret in time
// is closed without a word.
func (s *Server) serveDataConn(ds *dataSocket, conn net.Conn) {
	defer s.wg.Done()
	stop := context.AfterFunc(s.ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	if ds.tls != nil {
		conn = tls.Server(conn, ds.tls)
	}
	_ = conn.SetDeadline(time.Now().Add(helloTimeout))
	rd := wire.NewFrameReader(conn)
	version, err := readHello(rd, ds.secret)
	if err != nil {
		s.log.Warn("data socket: connection refused", "err", err)
		return
	}
	rd.Agree(version)
	if _, err := conn.Write(wire.AppendHello(nil, version, nil)); err != nil {
		s.log.Warn("data socket: hello", "err", err)
		return
	}
	_ = conn.SetDeadline(time.Time{})
	s.serveDataLink(conn, rd)
}

// readHello reads a host's hello and checks its secret; it returns the
// data link version both speak.
func readHello(rd *wire.FrameReader, secret []byte) (byte, error) {
	typ, body, err := rd.Next()
	if err != nil {
		return 0, fmt.Errorf("no hello: %w", err)
	}
	if typ != wire.FrameHello {
		return 0, fmt.Errorf("a %v frame before the hello", typ)
	}
	version, got, err := wire.ParseHello(body)
	if err != nil {
		return 0, err
	}
	if err := wire.CheckSecret(got, secret); err != nil {
		return 0, err
	}
	if version < 1 {
		return 0, fmt.Errorf("data link version %d", version)
	}
	return min(version, wire.DataLinkVersion), nil
}

// serveDataLink serves an authenticated connection as the link: it takes
// the link over (a link already open ends first), writes the plugin's
// events on it (the outbox attached), and handles the host's frames on
// this goroutine until the connection ends.
func (s *Server) serveDataLink(conn net.Conn, rd *wire.FrameReader) {
	ctx, _, gen, done := s.takeLink(s.ctx)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	w := wire.NewFrameWriter(conn, wire.WriterOptions{Version: rd.Version()})
	if err := s.portal.outbox.Attach(w); err != nil {
		s.log.Warn("link: data socket", "err", err)
	}
	s.log.Info("link: host attached")
	stopFigures := s.startFigures(ctx)
	detached := false
	err := s.readData(rd, w, &detached)
	stopFigures()
	if s.portal.outbox.Detach(w) {
		_ = w.Stop(nil)
	}
	conn.Close()
	close(done)
	if errors.Is(err, io.EOF) || (detached && errors.Is(err, net.ErrClosed)) {
		err = nil
	}
	s.log.Info("link: host detached", "err", err, "planned", detached)
	s.hostGone(gen, detached)
}

// readData handles the host's frames until the link ends, and returns why.
// A ping is answered at once, on this goroutine; a Detach stops the
// plugin's writing after a final Detached (detachData).
func (s *Server) readData(rd *wire.FrameReader, w *wire.FrameWriter, detached *bool) error {
	for {
		typ, body, err := rd.Next()
		if err != nil {
			return err
		}
		switch typ {
		case wire.FrameEvents:
			evs, err := wire.ParseEvents(body)
			if err != nil {
				return err
			}
			for _, ev := range evs {
				if _, ok := ev.Kind.(*portalpb.Event_Detach); ok {
					if !*detached {
						*detached = true
						s.detachData(w)
					}
					continue
				}
				s.portal.handleEvent(ev)
			}
		case wire.FrameData:
			if err := wire.ParseData(body, s.portal.handleData); err != nil {
				return err
			}
		case wire.FramePing:
			nonce, err := wire.ParseNonce(body)
			if err != nil {
				return err
			}
			// A link stopped for a reload answers no more pings: the
			// host stops asking once it detaches.
			_ = w.Append(func(b []byte) ([]byte, error) { return wire.AppendPong(b, nonce), nil })
		default:
			return fmt.Errorf("data link: unexpected %v from the host", typ)
		}
	}
}

// detachData is the plugin's side of a reload's first step on the data
// link: from now on events are queued for the next link; what was written
// before goes out, then Detached, the link's last event from this side.
func (s *Server) detachData(w *wire.FrameWriter) {
	s.portal.outbox.Detach(w)
	last, err := wire.AppendEvents(nil, &portalpb.Event{Kind: &portalpb.Event_Detached{Detached: &portalpb.Detached{}}})
	if err == nil {
		err = w.Stop(last)
	}
	if err != nil {
		s.log.Warn("link: send detached", "err", err)
	}
	s.log.Info("link: detaching for a host reload")
}

// takeLink makes the caller the current link, a data socket's connection
// or a Link stream: the link open until now is stopped and waited for (it
// stops writing), the grace period stops, the input kept for the host is
// settled (resumeInput), and the new link's context
// (under parent) with what cancels it, its generation and its done channel
// (to close once it no longer writes) are returned.
func (s *Server) takeLink(parent context.Context) (context.Context, context.CancelFunc, uint64, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.linkStop != nil {
		s.linkStop()
		<-s.linkDone
	}
	ctx, stop := context.WithCancel(parent)
	done := make(chan struct{})
	s.linkStop, s.linkDone = stop, done
	s.linkGen++
	s.linkUp = true
	s.portal.hostAway.Store(false)
	if s.graceTimer != nil {
		s.graceTimer.Stop()
		s.graceTimer = nil
	}
	// No link sends now (the old one has stopped, the new one has not
	// started, and a data link is attached to the outbox only after this):
	// the kept input is settled before anything goes out.
	s.portal.resumeInput()
	return ctx, stop, s.linkGen, done
}
