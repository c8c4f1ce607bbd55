package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// waitFor bounds every wait in these tests: for an event to the host, a
// frame at the client, a connection to end.
const waitFor = 5 * time.Second

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// harness is the plugin serving on a loopback port with a test portal in
// place of the host: what would go to the host is read from the portal's
// outbox, and what the host would send is given to the sessions directly.
type harness struct {
	t      *testing.T
	p      *Plugin
	portal *sdk.Portal
	events chan *portalpb.Event
	syncs  chan *portalpb.SessionSync
	ended  chan websocket.StatusCode
	http   string // http://127.0.0.1:port
	ws     string // ws://127.0.0.1:port
}

// hostMaxInput is the host's limits.max_input_length in these tests.
const hostMaxInput = 100

func newHarness(t *testing.T, raw map[string]any) *harness {
	t.Helper()
	return newHarnessWith(t, raw, nil)
}

// newHarnessWith is newHarness with setup run on the plugin and the host
// info before the plugin is configured (to give it a fake clock, say).
func newHarnessWith(t *testing.T, raw map[string]any, setup func(*Plugin, *sdk.HostInfo)) *harness {
	t.Helper()
	return newHarnessRate(t, raw, setup, 0)
}

// newHarnessRate is newHarnessWith with a connection rate of perSecond
// new connections a second per address, which may be under one, in place
// of the host info's (0 keeps that).
func newHarnessRate(t *testing.T, raw map[string]any, setup func(*Plugin, *sdk.HostInfo), perSecond float64) *harness {
	t.Helper()
	if raw == nil {
		raw = map[string]any{}
	}
	if _, ok := raw["listen"]; !ok {
		raw["listen"] = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, p: &Plugin{}, events: make(chan *portalpb.Event, 1024),
		syncs: make(chan *portalpb.SessionSync, 1024), ended: make(chan websocket.StatusCode, 64)}
	h.p.connectionEnded = func(code websocket.StatusCode) { h.ended <- code }
	hostInfo := sdk.HostInfo{ServerName: "TestGame", Limits: sdk.Limits{MaxInputLength: hostMaxInput}}
	if setup != nil {
		setup(h.p, &hostInfo)
	}
	// The portal applies the host's connection limits, as the SDK's does.
	portal := sdk.NewTestPortalWith(testLogger(), hostInfo)
	if perSecond > 0 {
		portal = sdk.NewTestPortalWithRate(testLogger(), hostInfo, perSecond)
	}
	h.portal = portal
	info, err := h.p.Configure(ctx, sdk.Config{Raw: raw, Host: hostInfo}, portal)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if info.ProtocolKey != "websocket" {
		t.Fatalf("protocol key %q", info.ProtocolKey)
	}
	addr := h.p.Addr().String()
	h.http, h.ws = "http://"+addr, "ws://"+addr
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = portal.Outbox().Run(ctx, func(f *portalpb.Frame) error {
			for _, ev := range f.GetEvents() {
				switch {
				case ev.GetSync() != nil:
					h.syncs <- ev.GetSync()
				case ev.GetNeedSessids() != nil:
				default:
					h.events <- ev
				}
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		// As the SDK does before Shutdown: every session is closed.
		for _, s := range portal.All() {
			portal.Disconnect(s, "")
		}
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := h.p.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		<-runDone
	})
	return h
}

// next returns the next event to the host.
func (h *harness) next() *portalpb.Event {
	h.t.Helper()
	select {
	case ev := <-h.events:
		return ev
	case <-time.After(waitFor):
		h.t.Fatal("timed out waiting for an event to the host")
		return nil
	}
}

// connected waits for a session's Connect and returns its data.
func (h *harness) connected() contract.SessionData {
	h.t.Helper()
	ev := h.next()
	c := ev.GetConnect()
	if c == nil {
		h.t.Fatalf("want a connect, got %v", ev)
	}
	d, err := wire.SessionFromPB(c.GetSession())
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

// dataIn waits for input to the host from session id.
func (h *harness) dataIn(id uint64) []sdk.Message {
	h.t.Helper()
	ev := h.next()
	in := ev.GetDataIn()
	if in == nil || in.GetSessid() != id {
		h.t.Fatalf("want input from session %d, got %v", id, ev)
	}
	msgs, err := wire.MessagesFromPB(in.GetMessages())
	if err != nil {
		h.t.Fatal(err)
	}
	return msgs
}

// disconnected waits for the host to be told session id ended.
func (h *harness) disconnected(id uint64) string {
	h.t.Helper()
	ev := h.next()
	d := ev.GetDisconnected()
	if d == nil || d.GetSessid() != id {
		h.t.Fatalf("want session %d disconnected, got %v", id, ev)
	}
	return d.GetReason()
}

// noEvent checks that nothing reached the host so far.
func (h *harness) noEvent() {
	h.t.Helper()
	select {
	case ev := <-h.events:
		h.t.Fatalf("unexpected event to the host: %v", ev)
	default:
	}
}

// connectionEnded waits until the plugin has handled the end of a
// connection, and returns the close code it saw.
func (h *harness) connectionEnded() websocket.StatusCode {
	h.t.Helper()
	select {
	case code := <-h.ended:
		return code
	case <-time.After(waitFor):
		h.t.Fatal("the plugin did not see the connection end")
		return 0
	}
}

// send gives session id output, as the host would.
func (h *harness) send(id uint64, msgs ...sdk.Message) {
	h.t.Helper()
	s := h.portal.Session(id)
	if s == nil {
		h.t.Fatalf("no session %d", id)
	}
	for i := range msgs {
		if msgs[i].Kwargs == nil {
			msgs[i].Kwargs = map[string]any{"options": map[string]any{}}
		}
	}
	s.Conn().Send(s, msgs)
}

// wsClient is a raw websocket client.
type wsClient struct {
	t *testing.T
	c *websocket.Conn
	// resp is the handshake's response.
	resp *http.Response
	// inbox, once pong was called, delivers what the client read; ended
	// is the read error that ended it.
	inbox chan wsRead
	ended error
}

// wsRead is one Read's outcome.
type wsRead struct {
	typ  websocket.MessageType
	data []byte
	err  error
}

// pong keeps a read in progress on c from now on, as a live browser has,
// so that c answers the server's pings at once (coder/websocket answers
// them only while reading); read and expectClosed take what it reads. A
// client that does not call it never answers a ping: a dead one.
func (c *wsClient) pong() {
	c.inbox = make(chan wsRead, 1024)
	// Ends with the connection, which the test's cleanup closes.
	go func() {
		for {
			typ, b, err := c.c.Read(context.Background())
			c.inbox <- wsRead{typ, b, err}
			if err != nil {
				return
			}
		}
	}()
}

// next reads the next message, from the inbox once pong was called.
func (c *wsClient) next(ctx context.Context) (websocket.MessageType, []byte, error) {
	if c.inbox == nil {
		return c.c.Read(ctx)
	}
	if c.ended != nil {
		return 0, nil, c.ended
	}
	select {
	case r := <-c.inbox:
		c.ended = r.err
		return r.typ, r.data, r.err
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
}

// dial connects to path (with its query) offering protos.
func (h *harness) dial(path string, protos ...string) *wsClient {
	h.t.Helper()
	c, err := h.tryDial(path, protos...)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) tryDial(path string, protos ...string) (*wsClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, h.ws+path, &websocket.DialOptions{Subprotocols: protos})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", path, err)
	}
	c.SetReadLimit(1 << 20)
	h.t.Cleanup(func() { _ = c.CloseNow() })
	return &wsClient{t: h.t, c: c, resp: resp}, nil
}

// read returns the next message.
func (c *wsClient) read() (websocket.MessageType, string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	typ, b, err := c.next(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return typ, string(b)
}

// expect checks the next message exactly.
func (c *wsClient) expect(typ websocket.MessageType, want string) {
	c.t.Helper()
	gt, got := c.read()
	if gt != typ || got != want {
		c.t.Fatalf("got %v %q\nwant %v %q", gt, got, typ, want)
	}
}

// expectText checks the next v1 message, a text frame.
func (c *wsClient) expectText(want string) { c.t.Helper(); c.expect(websocket.MessageText, want) }

// expectClosed reads until the server closes and checks the close code.
func (c *wsClient) expectClosed(code websocket.StatusCode) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for {
		_, b, err := c.next(ctx)
		if err == nil {
			_ = b // output before the close
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			c.t.Fatalf("connection ended with %v, want close code %d", err, code)
		}
		return ce.Reason
	}
}

func (c *wsClient) write(typ websocket.MessageType, s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.c.Write(ctx, typ, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) writeText(s string) { c.t.Helper(); c.write(websocket.MessageText, s) }

// close closes with code and waits for the server's answer.
func (c *wsClient) close(code websocket.StatusCode, reason string) {
	c.t.Helper()
	if err := c.c.Close(code, reason); err != nil {
		c.t.Fatalf("close: %v", err)
	}
}

// drop ends the connection without a close frame, as a lost network does.
func (c *wsClient) drop() { _ = c.c.CloseNow() }

// csessid returns a valid client session id, different per call.
var csessidN int

func newCsessid() string {
	csessidN++
	return fmt.Sprintf("%032x", csessidN+0xabc000)
}

// get fetches a page over HTTP.
func (h *harness) get(path string) (*http.Response, string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.http+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		h.t.Fatal(err)
	}
	return resp, b.String()
}

func timeAfter() <-chan time.Time { return time.After(waitFor) }

func contextWithWait() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), waitFor)
}
