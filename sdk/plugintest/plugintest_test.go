package plugintest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/connio"
	"github.com/portico-mud/portico/sdk/leakcheck"
	"github.com/portico-mud/portico/sdk/lines"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// envFlaw makes this test binary serve linePlugin with a flaw (or none:
// "good") when the kit launches it as a plugin binary, and selects the
// flawed plugin for TestFlawedHelper.
const envFlaw = "PLUGINTEST_SELFTEST_FLAW"

func TestMain(m *testing.M) {
	// Launched by the kit as a plugin binary (go-plugin sets the cookie).
	if flaw := os.Getenv(envFlaw); flaw != "" && os.Getenv(sdk.Handshake.MagicCookieKey) == sdk.Handshake.MagicCookieValue {
		sdk.Serve(&linePlugin{flaw: flaw})
		os.Exit(0)
	}
	leakcheck.Main(m)
}

// linePlugin is a minimal line protocol over TCP, as a plugin author would
// write it; flaw breaks one rule of the contract on purpose.
type linePlugin struct {
	flaw   string
	portal *sdk.Portal
	ln     net.Listener
	wg     sync.WaitGroup
}

func (p *linePlugin) Configure(ctx context.Context, cfg sdk.Config, portal *sdk.Portal) (sdk.Info, error) {
	var c struct {
		Listen string `json:"listen"`
	}
	if err := cfg.Decode(&c); err != nil {
		return sdk.Info{}, fmt.Errorf("line: %w", err)
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("line: listen: %w", err)
	}
	p.portal, p.ln = portal, ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(ctx, nc)
			}()
		}
	}()
	return sdk.Info{ProtocolKey: "line"}, nil
}

// Validate checks the block as Configure would, without listening.
func (p *linePlugin) Validate(_ context.Context, cfg sdk.Config) error {
	var c struct {
		Listen string `json:"listen"`
	}
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	if p.flaw == "nocheck" {
		return nil
	}
	return cfg.CheckListen("listen", c.Listen)
}

// unvalidated is a linePlugin without Validate (an older SDK's plugin).
type unvalidated struct{ p *linePlugin }

func (u unvalidated) Configure(ctx context.Context, cfg sdk.Config, portal *sdk.Portal) (sdk.Info, error) {
	return u.p.Configure(ctx, cfg, portal)
}

func (u unvalidated) Shutdown(ctx context.Context) error { return u.p.Shutdown(ctx) }

func (p *linePlugin) Shutdown(context.Context) error {
	p.ln.Close()
	p.wg.Wait()
	return nil
}

type lineConn struct {
	w    *connio.Writer
	flaw string
}

func (c *lineConn) Send(_ *sdk.Session, msgs []sdk.Message) {
	for _, m := range msgs {
		if s, ok := m.FirstString(); ok {
			_ = c.w.Write([]byte(s + "\r\n"))
		}
	}
}

func (c *lineConn) Close(reason string) {
	if reason == "" || c.flaw == "noreason" {
		c.w.Close(nil)
		return
	}
	c.w.Close([]byte(reason + "\r\n"))
}

func (p *linePlugin) serve(ctx context.Context, nc net.Conn) {
	c := &lineConn{w: connio.NewWriter(nc, connio.Options{}), flaw: p.flaw}
	sess, err := p.portal.NewSession(ctx, c, "line", nc.RemoteAddr().String())
	if err != nil {
		c.w.Close(nil) // a no-op when a connection limit closed it with its reason
		return
	}
	sess.Connect()
	var split lines.Splitter
	buf := make([]byte, 1024)
	for {
		n, err := nc.Read(buf)
		split.Feed(buf[:n], func(line []byte, _ bool) { sess.DataIn(sdk.Text(string(line))) })
		if err != nil {
			break
		}
	}
	if p.flaw != "nohangup" {
		sess.Disconnected("hung up")
	}
	c.w.Close(nil)
}

func lineSuite() plugintest.Suite {
	return plugintest.Suite{
		Config:      func(addr string) map[string]any { return map[string]any{"listen": addr} },
		Dial:        plugintest.DialTCP,
		ProtocolKey: "line",
		BadConfig:   map[string]any{"listne": ":0"},
	}
}

// TestKitInProcess: a plugin that keeps the contract passes every check.
func TestKitInProcess(t *testing.T) {
	s := lineSuite()
	s.New = func() sdk.Plugin { return &linePlugin{} }
	plugintest.Run(t, s)
}

// TestKitStreamLink: the same over the Link stream, as a host built
// before the data socket links: a plugin serves both.
func TestKitStreamLink(t *testing.T) {
	s := lineSuite()
	s.New = func() sdk.Plugin { return &linePlugin{} }
	s.StreamLink = true
	plugintest.Run(t, s)
}

// TestKitBinary: the same, launched through go-plugin (this test binary
// re-executed as the plugin).
func TestKitBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envFlaw, "good")
	s := lineSuite()
	s.Binary = exe
	plugintest.Run(t, s)
}

// botPlugin is linePlugin that also starts bots: a bot dials the line
// server its config names and bridges it to its session.
type botPlugin struct{ linePlugin }

func (p *botPlugin) StartBot(ctx context.Context, cfg sdk.Config) (*sdk.Session, error) {
	server, _ := cfg.Raw["server"].(string)
	if server == "" {
		return nil, errors.New("bot: config key server: missing")
	}
	nc, err := net.Dial("tcp", server)
	if err != nil {
		return nil, fmt.Errorf("bot: %w", err)
	}
	c := &lineConn{w: connio.NewWriter(nc, connio.Options{})}
	sess, err := p.portal.NewSession(ctx, c, "line", "bot@"+server)
	if err != nil {
		c.w.Close(nil)
		return nil, err
	}
	sess.Connect()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var split lines.Splitter
		buf := make([]byte, 1024)
		for {
			n, err := nc.Read(buf)
			split.Feed(buf[:n], func(line []byte, _ bool) { sess.DataIn(sdk.Text("peer: " + string(line))) })
			if err != nil {
				break
			}
		}
		sess.Disconnected("bot connection lost")
	}()
	return sess, nil
}

// lazyPeer is the far side of a bot: the connection the bot makes to the
// test's server, accepted when the kit first uses it.
type lazyPeer struct {
	ln   net.Listener
	once sync.Once
	c    plugintest.Client
	err  error
}

func (l *lazyPeer) get() (plugintest.Client, error) {
	l.once.Do(func() {
		nc, err := l.ln.Accept()
		if err != nil {
			l.err = err
			return
		}
		l.c = plugintest.NewStreamClient(nc)
	})
	return l.c, l.err
}

func (l *lazyPeer) Send(line string) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.Send(line)
}

func (l *lazyPeer) Expect(substr string, timeout time.Duration) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.Expect(substr, timeout)
}

func (l *lazyPeer) ExpectClosed(timeout time.Duration) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.ExpectClosed(timeout)
}

func (l *lazyPeer) Close() error {
	if c, err := l.get(); err == nil {
		c.Close()
	}
	return l.ln.Close()
}

// TestKitBot: the StartBot check with a bot and its peer, and the
// client checks skipped for a plugin without clients of its own.
func TestKitBot(t *testing.T) {
	plugintest.Run(t, plugintest.Suite{
		New:         func() sdk.Plugin { return &botPlugin{} },
		ProtocolKey: "line",
		Config:      func(string) map[string]any { return map[string]any{"listen": "127.0.0.1:0"} },
		Bot: func(t testing.TB) plugintest.Bot {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			peer := &lazyPeer{ln: ln}
			t.Cleanup(func() { peer.Close() })
			return plugintest.Bot{Config: map[string]any{"server": ln.Addr().String()}, Peer: peer}
		},
	})
}

// TestFlawedHelper runs the kit against a flawed plugin. It is meant to
// fail: TestKitCatchesFlaws runs it in a subprocess and reads its verdict.
func TestFlawedHelper(t *testing.T) {
	flaw := os.Getenv(envFlaw)
	if flaw == "" {
		t.Skip("run by TestKitCatchesFlaws")
	}
	s := lineSuite()
	s.New = func() sdk.Plugin {
		if flaw == "novalidate" {
			return unvalidated{&linePlugin{}}
		}
		return &linePlugin{flaw: flaw}
	}
	s.Timeout = 2 * time.Second
	plugintest.Run(t, s)
}

// TestKitCatchesFlaws: the kit fails exactly the checks a flaw breaks.
func TestKitCatchesFlaws(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the kit in subprocesses against flawed plugins")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for flaw, want := range map[string][]string{
		// A plugin that never reports a client hanging up leaves a ghost
		// session on the host (and holds the address's connection slot).
		"nohangup": {"ClientHangsUp", "ConnectionLimit"},
		// A plugin that drops the reason never tells players why.
		"noreason": {"HostDisconnects", "DisconnectAll", "ConnectionLimit", "HostNotBack", "Shutdown"},
		// A plugin without Validate can only be checked by starting it.
		"novalidate": {"Validate"},
		// A Validate that does not check the address passes a block whose
		// port is taken: the host would start it to fail.
		"nocheck": {"Validate"},
	} {
		t.Run(flaw, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, exe, "-test.run=^TestFlawedHelper$", "-test.v")
			cmd.Env = append(os.Environ(), envFlaw+"="+flaw)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the kit passed a plugin with flaw %s (err %v):\n%s", flaw, err, out)
			}
			var failed []string
			for _, line := range strings.Split(string(out), "\n") {
				if name, ok := strings.CutPrefix(strings.TrimSpace(line), "--- FAIL: TestFlawedHelper/"); ok {
					failed = append(failed, strings.Fields(name)[0])
				}
			}
			if strings.Join(failed, " ") != strings.Join(want, " ") {
				t.Fatalf("flaw %s failed checks %v, want %v:\n%s", flaw, failed, want, out)
			}
		})
	}
}

// TestCheckNames: Checks lists the checks a Suite.Skip may name.
func TestCheckNames(t *testing.T) {
	names := plugintest.Checks()
	for _, want := range []string{"Configure", "Reattach", "HostLost", "HostNotBack", "StartBot", "Shutdown", "VersionMismatch"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("no check %s in %v", want, names)
		}
	}
}
