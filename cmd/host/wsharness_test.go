package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/coder/websocket"
	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// startWebHost starts a host with the telnet and websocket plugins and
// returns it with the webclient's base URL (http://127.0.0.1:port).
func startWebHost(t *testing.T, wsConfig string) (*testHost, string) {
	t.Helper()
	port := conntest.FreePort(t)
	block := fmt.Sprintf(`  websocket:
    enabled: true
    path: %s
    config:
      listen: "127.0.0.1:%d"
%s`, filepath.Join(binDir, "portico-websocket"), port, wsConfig)
	h := startHostWith(t, hostOptions{extra: block})
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(h.dir, "data", "logs", "websocket.log")); err == nil {
				t.Logf("websocket.log:\n%s", b)
			}
		}
	})
	h.waitPlugin("websocket", func(p pluginStatus) bool { return p.State == "running" })
	return h, fmt.Sprintf("http://127.0.0.1:%d", port)
}

// websocketSessions returns the host's websocket sessions.
func websocketSessions(t *testing.T, h *testHost) []host.SessionInfo {
	t.Helper()
	list, err := h.sessions()
	if err != nil {
		t.Fatal(err)
	}
	var out []host.SessionInfo
	for _, s := range list {
		if s.ProtocolKey == "websocket" {
			out = append(out, s)
		}
	}
	return out
}

// waitSessions polls the host's websocket sessions until cond holds (the
// host is another process: polling its control socket is the only way to
// watch it), for at most 15 s.
func waitSessions(t *testing.T, h *testHost, what string, cond func([]host.SessionInfo) bool) []host.SessionInfo {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		list := websocketSessions(t, h)
		if cond(list) {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; websocket sessions: %+v", what, list)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// artifactDir is where tests leave files for people to look at:
// $PORTICO_TEST_ARTIFACTS, or the test's temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PORTICO_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is headless Chromium driven over the DevTools protocol.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu sync.Mutex
	// problems collects uncaught exceptions and console errors of the page.
	problems []string
	// wsURLs are the URLs of the websockets the page opened.
	wsURLs []string
}

// browserStep bounds each step of a browser test.
const browserStep = 20 * time.Second

// newBrowser starts Chromium with a fresh profile. It skips the test when
// Chromium is not installed, except under CI, where it must be.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	requireTool(t, chromiumPath, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 760),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &browser{t: t, ctx: ctx}
	t.Cleanup(func() {
		// Close the browser properly, so that it has stopped writing to
		// its profile before the profile directory is removed.
		if err := chromedp.Cancel(ctx); err != nil {
			t.Logf("close Chromium: %v", err)
		}
		cancel()
		cancelAlloc()
	})
	b.listen()
	// The first Run starts the browser and ties it to its context, so it
	// must not get a shorter-lived one; a timer bounds it instead.
	timer := time.AfterFunc(browserStep, cancel)
	err := chromedp.Run(ctx)
	if !timer.Stop() || err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return b
}

// newTab opens another tab in the same browser (its own sessionStorage,
// as a tab has).
func (b *browser) newTab() *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	tab := &browser{t: b.t, ctx: ctx}
	tab.listen()
	// As with the browser, the first Run opens the tab for good.
	timer := time.AfterFunc(browserStep, cancel)
	err := chromedp.Run(ctx)
	if !timer.Stop() || err != nil {
		b.t.Fatalf("open a tab: %v", err)
	}
	return tab
}

// listen collects the page's uncaught exceptions and console errors, and
// the URLs of the websockets it opens.
func (b *browser) listen() {
	chromedp.ListenTarget(b.ctx, func(ev any) {
		switch e := ev.(type) {
		case *network.EventWebSocketCreated:
			b.mu.Lock()
			b.wsURLs = append(b.wsURLs, e.URL)
			b.mu.Unlock()
		case *runtime.EventExceptionThrown:
			b.problem("exception: " + e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value))
				}
				b.problem("console.error: " + strings.Join(parts, " "))
			}
		}
	})
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// websocketURLs returns the URLs of the websockets the page opened so far.
func (b *browser) websocketURLs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.wsURLs...)
}

// noProblems fails the test if the page threw or logged an error.
func (b *browser) noProblems() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		b.t.Fatalf("the page reported problems:\n%s", strings.Join(b.problems, "\n"))
	}
}

// run performs actions, bounded by browserStep.
func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// waitJS waits until the JavaScript expression is true, bounded by
// browserStep. The page tells when it is by changing its DOM; polling on
// each animation frame is how DevTools waits for that.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	var ok bool
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.Poll(expr, &ok, chromedp.WithPollingTimeout(browserStep))); err != nil {
		b.t.Fatalf("browser: waiting for %s: %v\noutput:\n%s", what, err, b.output())
	}
}

// eval returns the value of a JavaScript expression.
func (b *browser) eval(expr string, res any) {
	b.t.Helper()
	b.run("evaluate "+expr, chromedp.Evaluate(expr, res))
}

// output is the text of the page's output pane.
func (b *browser) output() string {
	var s string
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById("output").innerText`, &s)); err != nil {
		return "(output unavailable: " + err.Error() + ")"
	}
	return s
}

// waitOutput waits until the output pane shows want.
func (b *browser) waitOutput(want string) {
	b.t.Helper()
	q, _ := json.Marshal(want)
	b.waitJS(fmt.Sprintf("output %s", q), fmt.Sprintf(`document.getElementById("output").innerText.includes(%s)`, q))
}

// waitState waits for the connection indicator's state.
func (b *browser) waitState(state string) {
	b.t.Helper()
	b.waitJS("connection state "+state, fmt.Sprintf(`document.getElementById("status").dataset.state === %q`, state))
}

// waitInputType waits until the input line is a text or password field.
func (b *browser) waitInputType(typ string) {
	b.t.Helper()
	b.waitJS("input type "+typ, fmt.Sprintf(`document.getElementById("input").type === %q`, typ))
}

// typeLine types text into the input line and presses Enter, as a player
// does.
func (b *browser) typeLine(text string) {
	b.t.Helper()
	b.run("type "+text, chromedp.SendKeys("#input", text+kb.Enter, chromedp.ByID))
}

// screenshot saves the page as name.png among the test's artifacts.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	var png []byte
	b.run("screenshot", chromedp.CaptureScreenshot(&png))
	path := filepath.Join(artifactDir(b.t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

// wsConn is a raw websocket client of the real plugin.
type wsConn struct {
	t *testing.T
	c *websocket.Conn
}

// dialWS connects to the webclient's websocket.
func dialWS(t *testing.T, base, query string, protos ...string) *wsConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(base, "http") + "/ws?" + query
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: protos})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &wsConn{t: t, c: c}
}

func (w *wsConn) send(typ websocket.MessageType, s string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, typ, []byte(s)); err != nil {
		w.t.Fatalf("websocket write: %v", err)
	}
}

// command sends one line of v1 text input.
func (w *wsConn) command(line string) {
	w.t.Helper()
	b, _ := json.Marshal([]any{"text", []any{line}, map[string]any{}})
	w.send(websocket.MessageText, string(b))
}

// expect reads messages until one contains want, and returns it.
func (w *wsConn) expect(want string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var seen []string
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			w.t.Fatalf("waiting for %q: %v; read:\n%s", want, err, strings.Join(seen, "\n"))
		}
		if strings.Contains(string(b), want) {
			return string(b)
		}
		seen = append(seen, string(b))
	}
}

// expectClosed reads until the connection closes, and returns its code.
func (w *wsConn) expectClosed() websocket.StatusCode {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		if _, _, err := w.c.Read(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				w.t.Fatal("connection not closed")
			}
			return websocket.CloseStatus(err)
		}
	}
}
