// Package edge is the transport of a remote plugin: one a host did not
// launch, which dials the host over TCP with mutual TLS (sdk.Serve's
// --connect and --identity flags). It holds what both sides must agree
// on, so that neither copies it: the hello the plugin sends first, the
// multiplexing of the one connection into streams (yamux, as go-plugin
// uses), and the one-byte preface that says what each stream carries.
//
// Over the TLS connection the plugin first writes Hello (a magic line and
// the random id of its process, or, once a host has configured it, the
// reattach token that host gave it: HostInfo.reattach_token); then yamux
// runs, the host as its client
// (it opens every stream) and the plugin as its server. Each stream the
// host opens starts with one byte: StreamGRPC, and the stream is a
// connection of the host's gRPC client to the plugin's portal server
// (the same service a local plugin serves over go-plugin's socket);
// StreamData, and it is the plugin's data link (the same secret-first
// frames as a local plugin's data socket, see sdk/wire).
//
// The contract above the transport is the one a local plugin speaks:
// Configure, Validate, the Link, Sessions, StartBot and Shutdown.
package edge

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// What each stream carries: its first byte.
const (
	// StreamGRPC is a connection of the host's gRPC client.
	StreamGRPC byte = 'g'
	// StreamData is the data link.
	StreamData byte = 'd'
)

// magic starts the plugin's hello: it tells a TLS peer that is not a
// Portico plugin (or another version of this transport) apart at once.
const magic = "PORTICO-EDGE 1\n"

// InstanceSize is the size of a plugin process's random id.
const InstanceSize = 16

// HelloTimeout bounds the TLS handshake and the hello on a new
// connection, on both sides.
const HelloTimeout = 10 * time.Second

// DataPath is what a remote plugin names as its data socket in its
// Configure answer: its data link travels on a StreamData stream, not on
// a unix socket, and the host dials it so.
const DataPath = "edge:data"

// Instance is the random id of one plugin process, or the reattach token
// a host gave it (same size): a host that sees the token it gave the last
// run knows the process (and its sessions) survived, as a record's pid
// and start time tell it of a local plugin.
type Instance [InstanceSize]byte

// NewInstance returns a fresh random id.
func NewInstance() (Instance, error) {
	var id Instance
	if _, err := rand.Read(id[:]); err != nil {
		return id, fmt.Errorf("edge: instance id: %w", err)
	}
	return id, nil
}

// String is the id in hex, as records keep it. It proves a process's
// identity on a redial: it is never logged (Fingerprint is).
func (id Instance) String() string { return hex.EncodeToString(id[:]) }

// Fingerprint is a short name of the id for logs: the first 8 hex digits
// of its SHA-256, which tell two processes apart without giving away the
// id (one who read it could otherwise claim a reattach).
func (id Instance) Fingerprint() string {
	sum := sha256.Sum256(id[:])
	return hex.EncodeToString(sum[:4])
}

// WriteHello writes the plugin's hello: the magic line and its instance.
func WriteHello(w io.Writer, id Instance) error {
	b := append([]byte(magic), id[:]...)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("edge: hello: %w", err)
	}
	return nil
}

// ReadHello reads a plugin's hello and returns its instance.
func ReadHello(r io.Reader) (Instance, error) {
	var id Instance
	b := make([]byte, len(magic)+InstanceSize)
	if _, err := io.ReadFull(r, b); err != nil {
		return id, fmt.Errorf("edge: no hello: %w", err)
	}
	if !bytes.Equal(b[:len(magic)], []byte(magic)) {
		return id, errors.New("edge: not a Portico plugin's hello")
	}
	copy(id[:], b[len(magic):])
	return id, nil
}

// MuxConfig is yamux's config on both sides. Keepalives every few
// seconds, with a short write timeout, notice a silent partition well
// within a reattach grace; yamux logs nothing of its own (the session's
// end is the caller's to report).
func MuxConfig() *yamux.Config {
	c := yamux.DefaultConfig()
	c.KeepAliveInterval = 5 * time.Second
	c.ConnectionWriteTimeout = 10 * time.Second
	c.StreamOpenTimeout = 15 * time.Second
	c.StreamCloseTimeout = time.Minute
	c.LogOutput = io.Discard
	return c
}

// OpenStream opens a stream of the given kind on a host's session.
func OpenStream(sess *yamux.Session, kind byte) (net.Conn, error) {
	st, err := sess.OpenStream()
	if err != nil {
		return nil, fmt.Errorf("edge: open stream: %w", err)
	}
	if _, err := st.Write([]byte{kind}); err != nil {
		st.Close()
		return nil, fmt.Errorf("edge: open stream: %w", err)
	}
	return HalfCloser{st}, nil
}

// HalfCloser is a yamux stream as a connection whose writing side can be
// closed alone (CloseWrite), as a reload's hand-over of the data link
// needs: yamux's Close already is a half-close (the other side reads to
// its end), so CloseWrite is Close.
type HalfCloser struct{ *yamux.Stream }

// CloseWrite closes the stream's writing side.
func (h HalfCloser) CloseWrite() error { return h.Stream.Close() }

// Listener is a net.Listener fed with connections by the plugin's accept
// loop (one per stream kind): grpc.Server.Serve and the data link's
// accept loop take streams from it as from a socket.
type Listener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

// NewListener returns an open Listener.
func NewListener() *Listener {
	return &Listener{ch: make(chan net.Conn), done: make(chan struct{})}
}

// Put hands c to the next Accept; c is closed when the listener is.
func (l *Listener) Put(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

// Accept returns the next connection, or net.ErrClosed once closed.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close closes the listener.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is the listener's (nominal) address.
func (l *Listener) Addr() net.Addr { return edgeAddr{} }

type edgeAddr struct{}

func (edgeAddr) Network() string { return "edge" }
func (edgeAddr) String() string  { return "edge" }

// Conn is the host's side of one remote plugin's connection: the plugin's
// instance, the multiplexer, and a gRPC client connection whose every
// transport is a StreamGRPC stream of it.
type Conn struct {
	// Instance is the plugin process's id, from its hello.
	Instance Instance
	// GRPC is the host's gRPC connection to the plugin's portal server.
	GRPC *grpc.ClientConn
	sess *yamux.Session
	conn net.Conn
	// refused is closed when refuseStreams has ended.
	refused chan struct{}
}

// Accept takes a connection whose TLS handshake is done (and whose peer
// the caller has verified): it reads the plugin's hello and starts the
// host's side of the multiplexer and of gRPC. name only labels the gRPC
// target. conn is closed when it fails.
func Accept(conn net.Conn, name string) (*Conn, error) {
	_ = conn.SetReadDeadline(time.Now().Add(HelloTimeout))
	id, err := ReadHello(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Time{})
	sess, err := yamux.Client(conn, MuxConfig())
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("edge: %w", err)
	}
	opts := append([]grpc.DialOption{
		// TLS is the connection's outer layer, already verified.
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) {
			return OpenStream(sess, StreamGRPC)
		}),
	}, wire.DialOptions()...)
	cc, err := grpc.NewClient("passthrough:///"+name, opts...)
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("edge: grpc client: %w", err)
	}
	c := &Conn{Instance: id, GRPC: cc, sess: sess, conn: conn, refused: make(chan struct{})}
	go c.refuseStreams()
	return c, nil
}

// refuseStreams closes every stream the plugin opens (the host opens
// them all): unaccepted, they would sit in yamux's backlog with their
// buffers for as long as the connection lasts. It ends with the session.
func (c *Conn) refuseStreams() {
	defer close(c.refused)
	for {
		st, err := c.sess.AcceptStream()
		if err != nil {
			return
		}
		st.Close()
	}
}

// OpenData opens a data link stream (the caller then says its hello, see
// sdk/launch.HelloData).
func (c *Conn) OpenData() (net.Conn, error) { return OpenStream(c.sess, StreamData) }

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.sess.CloseChan() }

// Closed reports whether the connection has ended.
func (c *Conn) Closed() bool { return c.sess.IsClosed() }

// Alive reports whether the plugin answers a ping within timeout.
func (c *Conn) Alive(timeout time.Duration) bool {
	done := make(chan error, 1)
	go func() {
		_, err := c.sess.Ping()
		done <- err
	}()
	select {
	case err := <-done:
		return err == nil
	case <-time.After(timeout):
		// The ping goroutine ends when the session is closed (Close).
		return false
	}
}

// RemoteAddr is the plugin's address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// Close ends the connection: gRPC, every stream, the socket.
func (c *Conn) Close() error {
	err := c.GRPC.Close()
	c.sess.Close()
	c.conn.Close()
	<-c.refused
	return err
}
