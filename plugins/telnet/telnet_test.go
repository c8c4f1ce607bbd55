package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/wire"
)

// configure runs Plugin.Configure with raw and host facts on a test portal.
func configure(t *testing.T, raw map[string]any, host sdk.HostInfo) (*Plugin, *sdk.Portal, error) {
	t.Helper()
	portal := sdk.NewTestPortal(testLogger())
	p := &Plugin{}
	info, err := p.Configure(context.Background(), sdk.Config{Raw: raw, Host: host}, portal)
	if err == nil {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			_ = p.Shutdown(ctx)
		})
		if info.ProtocolKey != ProtocolKey {
			t.Errorf("Info.ProtocolKey = %q, want %q", info.ProtocolKey, ProtocolKey)
		}
	}
	return p, portal, err
}

func TestConfigureErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name      string
		raw       map[string]any
		key       string // the error must name it
		noDataDir bool
	}{
		{name: "not host:port", raw: map[string]any{"listen": "nonsense"}, key: "listen"},
		{name: "empty listen", raw: map[string]any{"listen": ""}, key: "listen"},
		{name: "listen not a string", raw: map[string]any{"listen": 4000}, key: "listen"},
		{name: "address in use", raw: map[string]any{"listen": busy.Addr().String()}, key: "listen"},
		{name: "unknown key", raw: map[string]any{"listen": "127.0.0.1:0", "max_line_lenght": 10}, key: "max_line_lenght"},
		{name: "negative max_line_length", raw: map[string]any{"listen": "127.0.0.1:0", "max_line_length": -1},
			key: "max_line_length"},
		{name: "max_line_length not a number", raw: map[string]any{"listen": "127.0.0.1:0", "max_line_length": "long"},
			key: "max_line_length"},
		{name: "tls_listen not host:port", raw: map[string]any{"listen": "127.0.0.1:0", "tls_listen": "x"}, key: "tls_listen"},
		{name: "tls_listen in use", raw: map[string]any{"listen": "127.0.0.1:0", "tls_listen": busy.Addr().String()},
			key: "tls_listen"},
		{name: "tls without a data dir", raw: map[string]any{"listen": "127.0.0.1:0", "tls_listen": "127.0.0.1:0"},
			key: "tls_listen", noDataDir: true},
		{name: "tls_cert without tls_key", raw: map[string]any{"listen": "127.0.0.1:0", "tls_cert": "a.pem"}, key: "tls_key"},
		{name: "tls_cert missing", raw: map[string]any{"listen": "127.0.0.1:0", "tls_listen": "127.0.0.1:0",
			"tls_cert": "/nonexistent/cert.pem", "tls_key": "/nonexistent/key.pem"}, key: "tls_cert"},
		{name: "keepalive not a duration", raw: map[string]any{"listen": "127.0.0.1:0", "keepalive": "often"}, key: "keepalive"},
		{name: "negative keepalive", raw: map[string]any{"listen": "127.0.0.1:0", "keepalive": "-1s"}, key: "keepalive"},
		{name: "unknown option", raw: map[string]any{"listen": "127.0.0.1:0", "disable_options": []any{"mxp", "zmp"}},
			key: "disable_options"},
		{name: "mssp value not a string", raw: map[string]any{"listen": "127.0.0.1:0", "mssp": map[string]any{"genre": map[string]any{}}},
			key: "mssp.genre"},
		{name: "webclient_url not http", raw: map[string]any{"listen": "127.0.0.1:0", "webclient_url": "ftp://game.example/"},
			key: "webclient_url"},
		{name: "webclient_url without a host", raw: map[string]any{"listen": "127.0.0.1:0", "webclient_url": "game.example"},
			key: "webclient_url"},
		{name: "webclient_url with a line end", raw: map[string]any{"listen": "127.0.0.1:0", "webclient_url": "http://a.example/\r\nx"},
			key: "webclient_url"},
		{name: "mssp value with a reserved byte", raw: map[string]any{"listen": "127.0.0.1:0", "mssp": map[string]any{"genre": "a\x01b"}},
			key: "mssp.genre"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := sdk.HostInfo{Limits: sdk.Limits{MaxInputLength: 6000}, DataDir: t.TempDir()}
			if tt.noDataDir {
				host.DataDir = ""
			}
			p, _, err := configure(t, tt.raw, host)
			if err == nil {
				t.Fatalf("Configure(%v) succeeded", tt.raw)
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("Configure(%v) = %q, want an error naming %s", tt.raw, err, tt.key)
			}
			if p.ln != nil {
				t.Fatal("a failed Configure left a listener")
			}
		})
	}
}

func TestConfigureMaxLineLength(t *testing.T) {
	tests := []struct {
		raw  map[string]any
		host int
		want int
	}{
		{raw: map[string]any{"listen": "127.0.0.1:0"}, host: 7, want: 7},
		{raw: map[string]any{"listen": "127.0.0.1:0", "max_line_length": 0}, host: 6000, want: 6000},
		{raw: map[string]any{"listen": "127.0.0.1:0", "max_line_length": 3}, host: 6000, want: 3},
		{raw: map[string]any{"listen": "127.0.0.1:0"}, host: 0, want: 0},
	}
	for _, tt := range tests {
		p, _, err := configure(t, tt.raw, sdk.HostInfo{Limits: sdk.Limits{MaxInputLength: tt.host}})
		if err != nil {
			t.Fatalf("Configure(%v): %v", tt.raw, err)
		}
		if p.cfg.MaxLineLength != tt.want {
			t.Errorf("Configure(%v) with host limit %d: MaxLineLength = %d, want %d",
				tt.raw, tt.host, p.cfg.MaxLineLength, tt.want)
		}
	}
}

func TestConfigValidateDefault(t *testing.T) {
	c := Config{Listen: DefaultListen}
	if err := c.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
}

// dialClient connects to the plugin and waits for the session's Connect.
func dialClient(t *testing.T, p *Plugin, col *collector) (net.Conn, uint64) {
	t.Helper()
	client, err := net.DialTimeout("tcp", p.ln.Addr().String(), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	ev := col.next(t)
	s := ev.GetConnect().GetSession()
	if s == nil {
		t.Fatalf("event = %v, want Connect", ev)
	}
	if s.GetProtocolKey() != "telnet" || s.GetAddress() != client.LocalAddr().String() {
		t.Fatalf("Connect session = %v, want telnet from %s", s, client.LocalAddr())
	}
	return client, s.GetSessid()
}

func expectDataIn(t *testing.T, col *collector, id uint64, want string) {
	t.Helper()
	ev := col.next(t)
	di := ev.GetDataIn()
	if di == nil || di.GetSessid() != id {
		t.Fatalf("event = %v, want DataIn of %d", ev, id)
	}
	msgs, err := wire.MessagesFromPB(di.GetMessages())
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Name != "text" || len(msgs[0].Args) != 1 || msgs[0].Args[0] != want {
		t.Fatalf("DataIn = %#v, want text %q", msgs, want)
	}
}

// readAll reads from c until the server closes it.
func readAll(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading until close: %v (have %q)", err, b)
	}
	return string(b)
}

func TestConfigureServesAndShutdown(t *testing.T) {
	p, portal, err := configure(t, map[string]any{"listen": "127.0.0.1:0"}, sdk.HostInfo{Limits: sdk.Limits{MaxInputLength: 7}})
	if err != nil {
		t.Fatal(err)
	}
	col := collect(portal)
	defer col.stop(t)

	c1, id1 := dialClient(t, p, col)
	c2, id2 := dialClient(t, p, col)
	if id1 == id2 {
		t.Fatalf("two clients share session id %d", id1)
	}
	// The host's limit reaches the connection: 8 characters are refused,
	// 7 pass. The refusal is queued before the next line reaches the host.
	if _, err := c1.Write([]byte("12345678\r\n1234567\r\n")); err != nil {
		t.Fatal(err)
	}
	expectDataIn(t, col, id1, "1234567")
	if _, err := c2.Write([]byte("look\r\n")); err != nil {
		t.Fatal(err)
	}
	expectDataIn(t, col, id2, "look")

	s2 := portal.Session(id2)
	s2.Conn().Send(s2, []sdk.Message{sdk.Text("hello")})

	ctx, cancel := context.WithTimeout(context.Background(), 3*waitFor)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(ctx) }()

	// Each client first got the connect offers (and answered none).
	if got, want := readAll(t, c1), connectOffers+sdk.MsgTooLong+"\r\n"; got != want {
		t.Errorf("client 1 got %q before close, want %q", got, want)
	}
	if got := readAll(t, c2); got != connectOffers+"hello\r\n" {
		t.Errorf("client 2 got %q before close, want %q", got, connectOffers+"hello\r\n")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(2 * waitFor):
		t.Fatal("Shutdown did not return")
	}

	// No longer accepting.
	if c, err := net.DialTimeout("tcp", p.ln.Addr().String(), waitFor); err == nil {
		c.Close()
		t.Fatal("dial after Shutdown succeeded")
	}

	// Both sessions told the host they are gone.
	gone := map[uint64]bool{}
	for range 2 {
		ev := col.next(t)
		d := ev.GetDisconnected()
		if d == nil {
			t.Fatalf("event = %v, want Disconnected", ev)
		}
		gone[d.GetSessid()] = true
	}
	if !gone[id1] || !gone[id2] || portal.Count() != 0 {
		t.Fatalf("disconnected %v, portal still has %d sessions", gone, portal.Count())
	}
}

func TestShutdownIdle(t *testing.T) {
	p, _, err := configure(t, map[string]any{"listen": "127.0.0.1:0"}, sdk.HostInfo{})
	if err != nil {
		t.Fatal(err)
	}
	addr := p.ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, waitFor); err == nil {
		c.Close()
		t.Fatal("dial after Shutdown succeeded")
	}
	// Again, harmlessly.
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

func TestShutdownUnconfigured(t *testing.T) {
	p := &Plugin{}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown of a plugin never configured: %v", err)
	}
}

// A session the host closed before Shutdown leaves nothing for it to do.
func TestShutdownAfterHostDisconnect(t *testing.T) {
	p, portal, err := configure(t, map[string]any{"listen": "127.0.0.1:0"}, sdk.HostInfo{Limits: sdk.Limits{MaxInputLength: 100}})
	if err != nil {
		t.Fatal(err)
	}
	col := collect(portal)
	defer col.stop(t)
	c, id := dialClient(t, p, col)
	portal.Disconnect(portal.Session(id), "Server is shutting down.")
	if got := readAll(t, c); got != connectOffers+"Server is shutting down.\r\n" {
		t.Fatalf("client got %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Shutdown waited for the connection's reader, so every event is out.
	evs := col.drain(t, portal)
	if len(evs) != 1 || evs[0].GetDisconnected().GetReason() != "Server is shutting down." {
		t.Fatalf("events = %v, want one Disconnected with the host's reason", evs)
	}
}

// Connections arriving while Shutdown runs are all closed, and Shutdown
// does not wait out its deadline for one it did not know of.
func TestShutdownWhileAccepting(t *testing.T) {
	p, portal, err := configure(t, map[string]any{"listen": "127.0.0.1:0"}, sdk.HostInfo{Limits: sdk.Limits{MaxInputLength: 100}})
	if err != nil {
		t.Fatal(err)
	}
	col := collect(portal)
	defer col.stop(t)
	addr := p.ln.Addr().String()

	const dialers = 8
	ended := make(chan error, dialers)
	start := make(chan struct{})
	for range dialers {
		go func() {
			<-start
			for {
				c, err := net.DialTimeout("tcp", addr, waitFor)
				if err != nil {
					ended <- nil // the listener is closed
					return
				}
				// Every accepted connection must be closed by the server.
				_ = c.SetReadDeadline(time.Now().Add(3 * waitFor))
				_, err = io.Copy(io.Discard, c)
				c.Close()
				if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
					ended <- err
					return
				}
			}
		}()
	}
	close(start)
	// Let some connections in before shutting down.
	col.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitFor)
	defer cancel()
	// Before the fix, a connection accepted just as the listener closed
	// was served unseen, and Shutdown gave up after its 2 s wait with
	// "connections still open".
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for range dialers {
		if err := <-ended; err != nil {
			t.Fatalf("a client was left open: %v", err)
		}
	}
}
