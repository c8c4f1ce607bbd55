package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/plugintest"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	gossh "golang.org/x/crypto/ssh"
)

// waitFor bounds every wait in these tests.
const waitFor = 5 * time.Second

// harness is the plugin configured in this process against a test portal:
// what would go to the host is read from the portal's outbox, and the
// test plays the host by calling the sessions' Conns.
type harness struct {
	t       *testing.T
	p       *Plugin
	portal  *sdk.Portal
	addr    string
	dataDir string
	events  chan *portalpb.Event // everything but syncs and id requests
	syncs   chan *portalpb.Event
	stop    context.CancelFunc
	done    chan struct{}
}

// startPlugin configures the plugin on a free loopback port with raw (may
// be nil) and a line limit of 100 characters.
func startPlugin(t *testing.T, raw map[string]any) *harness {
	t.Helper()
	return startPluginIn(t, t.TempDir(), raw)
}

func startPluginIn(t *testing.T, dataDir string, raw map[string]any) *harness {
	t.Helper()
	return startPluginWith(t, dataDir, raw, 0)
}

// startPluginWith is startPluginIn with the host's connections_per_ip
// (0: none) told to the plugin.
func startPluginWith(t *testing.T, dataDir string, raw map[string]any, perIP int) *harness {
	t.Helper()
	cfg := map[string]any{"listen": "127.0.0.1:0"}
	for k, v := range raw {
		cfg[k] = v
	}
	host := sdk.HostInfo{ServerName: "TestGame", DataDir: dataDir, Limits: sdk.Limits{MaxInputLength: 100, ConnectionsPerIP: perIP}}
	// The portal is told the host's limits, as the SDK tells it before
	// the plugin's Configure: the plugin's per-address counts take them
	// from there.
	portal := sdk.NewTestPortalWith(testLogger(), host)
	p := &Plugin{}
	info, err := p.Configure(context.Background(), sdk.Config{Raw: cfg, Host: host}, portal)
	if err != nil {
		t.Fatal(err)
	}
	if info.ProtocolKey != "ssh" {
		t.Fatalf("protocol key %q", info.ProtocolKey)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, p: p, portal: portal, addr: p.Addr().String(), dataDir: dataDir,
		events: make(chan *portalpb.Event, 10000), syncs: make(chan *portalpb.Event, 10000),
		stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		_ = portal.Outbox().Run(ctx, func(f *portalpb.Frame) error {
			for _, ev := range f.GetEvents() {
				switch {
				case ev.GetSync() != nil:
					h.syncs <- ev
				case ev.GetNeedSessids() != nil:
				default:
					h.events <- ev
				}
			}
			return nil
		})
	}()
	t.Cleanup(h.shutdown)
	return h
}

// shutdown stops the plugin as the host would, and the collector.
func (h *harness) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := h.p.Shutdown(ctx); err != nil {
		h.t.Errorf("shutdown: %v", err)
	}
	h.stop()
	<-h.done
}

// next returns the next event for the host, failing after waitFor.
func (h *harness) next(what string) *portalpb.Event {
	h.t.Helper()
	select {
	case ev := <-h.events:
		return ev
	case <-time.After(waitFor):
		h.t.Fatalf("no %s from the plugin", what)
		return nil
	}
}

// awaitConnect returns the next Connect and its session id.
func (h *harness) awaitConnect() (*portalpb.Connect, uint64) {
	h.t.Helper()
	ev := h.next("Connect")
	c := ev.GetConnect()
	if c == nil {
		h.t.Fatalf("expected Connect, got %v", ev)
	}
	return c, c.GetSession().GetSessid()
}

// awaitInput returns the messages of the next DataIn, which must be id's.
func (h *harness) awaitInput(id uint64) []contract.Message {
	h.t.Helper()
	ev := h.next("input")
	in := ev.GetDataIn()
	if in == nil || in.GetSessid() != id {
		h.t.Fatalf("expected input from session %d, got %v", id, ev)
	}
	msgs, err := wire.MessagesFromPB(in.GetMessages())
	if err != nil {
		h.t.Fatal(err)
	}
	return msgs
}

// awaitText waits for one text input line.
func (h *harness) awaitText(id uint64, want string) {
	h.t.Helper()
	msgs := h.awaitInput(id)
	if len(msgs) != 1 || msgs[0].Name != "text" {
		h.t.Fatalf("input %+v, want text %q", msgs, want)
	}
	if got, _ := msgs[0].FirstString(); got != want {
		h.t.Fatalf("input text %q, want %q", got, want)
	}
}

// awaitBarrier waits for the get_value request the plugin sends as a
// barrier.
func (h *harness) awaitBarrier(id uint64) {
	h.t.Helper()
	msgs := h.awaitInput(id)
	if len(msgs) != 1 || msgs[0].Name != "get_value" || msgs[0].Kwargs["name"] != barrierValue {
		h.t.Fatalf("input %+v, want the get_value barrier", msgs)
	}
}

// awaitDisconnected waits for session id to end. A barrier before it is
// skipped: a client that hangs up sends EOF first, which the plugin cannot
// tell from the end of piped input until the connection's close arrives.
func (h *harness) awaitDisconnected(id uint64) string {
	h.t.Helper()
	ev := h.next("Disconnected")
	for isBarrierEvent(ev) {
		ev = h.next("Disconnected")
	}
	d := ev.GetDisconnected()
	if d == nil || d.GetSessid() != id {
		h.t.Fatalf("expected Disconnected of %d, got %v", id, ev)
	}
	return d.GetReason()
}

// isBarrierEvent reports whether ev is the plugin's get_value barrier.
func isBarrierEvent(ev *portalpb.Event) bool {
	ms := ev.GetDataIn().GetMessages()
	return len(ms) == 1 && ms[0].GetName() == "get_value"
}

// awaitSync returns the flags of the next sync.
func (h *harness) awaitSync() map[string]any {
	h.t.Helper()
	select {
	case ev := <-h.syncs:
		d, err := wire.SessionFromPB(ev.GetSync().GetSession())
		if err != nil {
			h.t.Fatal(err)
		}
		return d.ProtocolFlags.Map()
	case <-time.After(waitFor):
		h.t.Fatal("no sync from the plugin")
		return nil
	}
}

// send delivers output to session id as the host would.
func (h *harness) send(id uint64, msgs ...sdk.Message) {
	h.t.Helper()
	s := h.portal.Session(id)
	if s == nil {
		h.t.Fatalf("no session %d", id)
	}
	s.Conn().Send(s, msgs)
}

// answerBarrier answers the get_value barrier as the host would.
func (h *harness) answerBarrier(id uint64) {
	h.send(id, sdk.Message{Name: "get_value", Kwargs: map[string]any{"name": barrierValue, "value": "TestGame"}})
}

// login logs session id in as the host's Login event would.
func (h *harness) login(id uint64, name string) {
	h.t.Helper()
	s := h.portal.Session(id)
	if s == nil {
		h.t.Fatalf("no session %d", id)
	}
	s.Update(func(d *sdk.SessionData) { d.LoggedIn, d.UID, d.UName = true, 1, name })
	if n, ok := s.Conn().(sdk.LoginNotifier); ok {
		n.LoggedIn(s)
	}
}

// disconnect ends session id as the host's Disconnect event would.
func (h *harness) disconnect(id uint64, reason string) {
	h.t.Helper()
	s := h.portal.Session(id)
	if s == nil {
		h.t.Fatalf("no session %d", id)
	}
	h.portal.Disconnect(s, reason)
	h.awaitDisconnected(id)
}

// clientConfig is a client that logs in as user with a password.
func clientConfig(user string, auth ...gossh.AuthMethod) *gossh.ClientConfig {
	return &gossh.ClientConfig{User: user, Auth: auth, Timeout: waitFor,
		HostKeyCallback: gossh.InsecureIgnoreHostKey()}
}

// sshClient is one SSH session from a client, with its output collected.
type sshClient struct {
	client *gossh.Client
	sess   *gossh.Session
	stdin  io.WriteCloser

	// Output has stdout; its Closed is closed when stdout has ended.
	*plugintest.Output
	exit chan error // the session's end (nil: exit status 0)
}

// clientPty is a terminal request; nil asks for none.
type clientPty struct {
	term          string
	width, height int
}

// dialClient opens a session: a shell with pty, or cmd when it is set.
func dialClient(addr string, cfg *gossh.ClientConfig, pty *clientPty, cmd string) (*sshClient, error) {
	client, err := gossh.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c, err := openSession(client, pty, cmd)
	if err != nil {
		client.Close()
		return nil, err
	}
	return c, nil
}

func openSession(client *gossh.Client, pty *clientPty, cmd string) (*sshClient, error) {
	sess, err := client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	c := &sshClient{client: client, sess: sess, Output: plugintest.NewOutput(), exit: make(chan error, 1)}
	if c.stdin, err = sess.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if pty != nil {
		if err := sess.RequestPty(pty.term, pty.height, pty.width, gossh.TerminalModes{}); err != nil {
			return nil, fmt.Errorf("pty: %w", err)
		}
	}
	if cmd != "" {
		err = sess.Start(cmd)
	} else {
		err = sess.Shell()
	}
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	go c.read(stdout)
	return c, nil
}

// read collects stdout until it ends, then the session's exit.
func (c *sshClient) read(r io.Reader) {
	c.Collect(r)
	c.exit <- c.sess.Wait()
}

// Send types line and Enter (CR, as a terminal sends it).
func (c *sshClient) Send(line string) error {
	_, err := c.stdin.Write([]byte(line + "\r"))
	return err
}

// Expect waits for substr in the output not yet consumed.
func (c *sshClient) Expect(substr string, timeout time.Duration) error {
	_, err := c.Await(substr, timeout)
	return err
}

// ExpectClosed waits until the server ended the session.
func (c *sshClient) ExpectClosed(timeout time.Duration) error {
	select {
	case <-c.Closed():
		return nil
	case <-time.After(timeout):
		return errors.New("the server did not end the session")
	}
}

// Close hangs up.
func (c *sshClient) Close() error {
	err := c.client.Close()
	<-c.Closed()
	return err
}

// mustDial is dialClient that fails the test on an error and hangs up
// when the test ends.
func mustDial(t *testing.T, addr string, cfg *gossh.ClientConfig, pty *clientPty, cmd string) *sshClient {
	t.Helper()
	c, err := dialClient(addr, cfg, pty, cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectExit fails the test unless the session ends with exit status
// status, having shown exactly out.
func (c *sshClient) expectExit(t *testing.T, status int, out string) {
	t.Helper()
	if st := c.exitStatus(t); st != status {
		t.Fatalf("exit status %d, want %d", st, status)
	}
	if got := c.output(); got != out {
		t.Fatalf("output %q, want %q", got, out)
	}
}

// expect fails the test unless substr arrives.
func (c *sshClient) expect(t *testing.T, substr string) {
	t.Helper()
	if err := c.Expect(substr, waitFor); err != nil {
		t.Fatal(err)
	}
}

// output returns everything received so far.
func (c *sshClient) output() string { return c.All() }

// exitStatus waits for the session's end and returns its exit status.
func (c *sshClient) exitStatus(t *testing.T) int {
	t.Helper()
	select {
	case err := <-c.exit:
		var ee *gossh.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			return ee.ExitStatus()
		default:
			t.Fatalf("session ended without an exit status: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("the session did not end")
	}
	return -1
}

// rawDial opens a bare TCP connection to the plugin.
func (h *harness) rawDial() net.Conn {
	h.t.Helper()
	nc, err := net.DialTimeout("tcp", h.addr, waitFor)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { nc.Close() })
	return nc
}
