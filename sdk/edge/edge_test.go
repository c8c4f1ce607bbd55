package edge

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/portico-mud/portico/sdk/leakcheck"
)

// TestMain fails the run when a goroutine the tests started outlives them.
func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestHello(t *testing.T) {
	id, err := NewInstance()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteHello(&b, id); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHello(&b)
	if err != nil || got != id {
		t.Fatalf("ReadHello = %v, %v; want %v", got, err, id)
	}
	if _, err := ReadHello(bytes.NewReader([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))); err == nil {
		t.Fatal("an HTTP request was taken for a plugin's hello")
	}
	if _, err := ReadHello(bytes.NewReader([]byte(magic))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a short hello: %v", err)
	}
}

func TestListener(t *testing.T) {
	l := NewListener()
	a, b := net.Pipe()
	defer b.Close()
	go l.Put(a)
	c, err := l.Accept()
	if err != nil || c != a {
		t.Fatalf("Accept = %v, %v", c, err)
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	x, y := net.Pipe()
	defer y.Close()
	l.Put(x) // closed listener: x is closed, Put does not block
	if _, err := x.Write([]byte{1}); err == nil {
		t.Fatal("a connection put to a closed listener was left open")
	}
}

// TestAccept: the host's side takes the plugin's hello, opens a data
// stream whose first byte says so, pings the plugin, closes a stream the
// plugin opens, and ends everything on Close.
func TestAccept(t *testing.T) {
	hostEnd, pluginEnd := net.Pipe()
	id, _ := NewInstance()
	plugin := make(chan *yamux.Session, 1)
	go func() {
		if err := WriteHello(pluginEnd, id); err != nil {
			plugin <- nil
			return
		}
		s, err := yamux.Server(pluginEnd, MuxConfig())
		if err != nil {
			plugin <- nil
			return
		}
		plugin <- s
	}()
	c, err := Accept(hostEnd, "edge1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Instance != id {
		t.Fatalf("instance %v, want %v", c.Instance, id)
	}
	ps := <-plugin
	if ps == nil {
		t.Fatal("plugin side failed")
	}
	defer ps.Close()
	data, err := c.OpenData()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := data.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	st, err := ps.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	_ = st.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 2)
	if _, err := io.ReadFull(st, got); err != nil || got[0] != StreamData || got[1] != 'x' {
		t.Fatalf("stream began %q, %v", got, err)
	}
	if !c.Alive(5 * time.Second) {
		t.Fatal("a live plugin did not answer the ping")
	}
	// A stream the plugin opens is closed by the host, not left in
	// yamux's backlog.
	own, err := ps.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	_ = own.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := own.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("a stream the plugin opened: read %v, want EOF (closed by the host)", err)
	}
	if err := data.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Read(got); !errors.Is(err, io.EOF) {
		t.Fatalf("after CloseWrite the plugin reads %v, want EOF", err)
	}
	c.Close()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed by Close")
	}
	if !c.Closed() || c.Alive(100*time.Millisecond) {
		t.Fatal("a closed connection looks alive")
	}
}

// TestInstanceFingerprint: the fingerprint logged for an instance is short,
// stable, tells two instances apart, and is no part of the id itself.
func TestInstanceFingerprint(t *testing.T) {
	a, err := NewInstance()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewInstance()
	if err != nil {
		t.Fatal(err)
	}
	fa := a.Fingerprint()
	if len(fa) != 8 || fa != a.Fingerprint() || fa == b.Fingerprint() {
		t.Errorf("fingerprints %q %q: want 8 hex digits, stable, distinct", fa, b.Fingerprint())
	}
	if strings.Contains(a.String(), fa) {
		t.Errorf("fingerprint %q is part of the id %s", fa, a)
	}
}
