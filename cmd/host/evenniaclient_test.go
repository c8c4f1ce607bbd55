package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/portico-mud/portico/core/host"
)

// TestEvenniaWebclientProtocol drives, in headless Chromium, a page of the
// test's own (testdata/evclient) that speaks what Evennia's webclient
// speaks, served from a port of its own as Evennia serves its page apart
// from its websocket: the page's host on another port may connect; a
// cmdid rides every message it sends and is never taken for an option;
// after logged_in it asks for its options and the typing indicator's
// set-up, and both are answered; the typing reaches another player; the
// prompt bar's "Password:" is cleared by the login; a reload (the browser
// closes the websocket with 1001) resumes the same session; the options it
// stored are there at the next login.
func TestEvenniaWebclientProtocol(t *testing.T) {
	b := newBrowser(t) // skips (or, under CI, fails) without Chromium
	h, web := startWebHost(t, "      allowed_origins: [\"localhost\"]\n")
	page := httptest.NewServer(http.FileServer(http.Dir(filepath.Join("testdata", "evclient"))))
	defer page.Close()
	wsURL := "ws" + strings.TrimPrefix(web, "http") + "/ws"
	pageURL := page.URL + "/?ws=" + url.QueryEscape(wsURL)

	// Origins, raw: a host-only pattern allows every port of its host;
	// other sites are refused.
	_, pagePort, _ := strings.Cut(strings.TrimPrefix(page.URL, "http://"), ":")
	dialOrigin := func(origin string) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if err == nil {
			_ = c.CloseNow()
			return http.StatusSwitchingProtocols, nil
		}
		if resp == nil {
			return 0, err
		}
		return resp.StatusCode, err
	}
	if code, err := dialOrigin("http://localhost:" + pagePort); err != nil {
		t.Fatalf("allowed_origins [localhost] refused a page on localhost:%s: %d %v", pagePort, code, err)
	}
	if code, _ := dialOrigin("http://evil.example:" + pagePort); code != http.StatusForbidden {
		t.Fatalf("a foreign page: %d, want 403", code)
	}

	// The page, from 127.0.0.1 on its own port.
	b.run("open the Evennia-protocol page", chromedp.Navigate(pageURL))
	b.waitState("connected")
	b.waitOutput("Welcome to TestGame")
	b.typeLine("create Pagey pagepass1")
	b.waitOutput("A new account 'Pagey' was created.")
	b.typeLine("connect Pagey")
	b.waitJS("the password prompt in the prompt bar", `document.getElementById("prompt").innerText.includes("Password:")`)
	b.typeLine("pagepass1")
	b.waitOutput("You become Pagey.")
	b.waitJS("logged_in", `evtest.got.logged_in !== undefined`)
	b.waitJS("the prompt bar cleared", `document.getElementById("prompt").innerText === ""`)
	// Asked for after logged_in, both answered.
	b.waitJS("the webclient options", `evtest.got.webclient_options !== undefined && evtest.got.webclient_options.gagprompt === true`)
	b.waitJS("the typing set-up", `evtest.got.is_typing_setup !== undefined && evtest.got.is_typing_setup.typing_timeout === 5000 && evtest.got.is_typing_setup.live_report_keywords.includes("say")`)
	var everyCmdid bool
	b.eval(`evtest.sent.length >= 6 && evtest.sent.every(m => typeof m[2].cmdid === "number")`, &everyCmdid)
	if !everyCmdid {
		var sent string
		b.eval(`JSON.stringify(evtest.sent)`, &sent)
		t.Fatalf("not every message carried a cmdid: %s", sent)
	}
	// client_options (with its cmdid) took the screen size, silently.
	list := waitSessions(t, h, "Pagey's session 90 wide", func(l []host.SessionInfo) bool {
		return len(l) == 1 && l[0].LoggedIn && l[0].ProtocolFlags["SCREENWIDTH"] == float64(90)
	})
	if out := b.output(); strings.Contains(out, "Wrong/unrecognized input") {
		t.Fatalf("the page was told off for its cmdid:\n%s", out)
	}
	id := list[0].Sessid

	// Typing: another player hears that Pagey types.
	watcher := dialWS(t, web, "watcher0123456789abcdef&w&GoTest")
	watcher.expect("Welcome to TestGame")
	watcher.command("create Watcher watchpass1")
	watcher.expect("was created")
	watcher.command("connect Watcher watchpass1")
	watcher.expect("You become Watcher.")
	b.eval(`evtest.msg("is_typing_state", [], {state: true}), true`, new(bool))
	watcher.expect(`"payload":{"name":"Pagey","state":true}`)

	// Options the page stores, kept on the account.
	b.eval(`evtest.msg("webclient_options", [], {gagprompt: false}), true`, new(bool))

	// A reload: Chromium closes the websocket with 1001; the page comes
	// back with its csessid and has the same session, logged in.
	b.run("reload the page", chromedp.Reload())
	b.waitState("connected")
	b.waitOutput("Reconnected: your session was resumed.")
	waitSessions(t, h, "the same session after the reload", func(l []host.SessionInfo) bool {
		return len(l) == 2 && (l[0].Sessid == id || l[1].Sessid == id)
	})
	for _, s := range websocketSessions(t, h) {
		if s.Sessid == id && (!s.LoggedIn || s.Account != "Pagey") {
			t.Fatalf("after the reload: %+v", s)
		}
	}
	logb, err := os.ReadFile(filepath.Join(h.dir, "data", "logs", "websocket.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logb), "code=1001") {
		t.Fatalf("the reload did not close with 1001; websocket.log:\n%s", logb)
	}
	b.typeLine("@sessions")
	b.waitOutput("Your current session(s):")

	// quit ends the session (1000); the next login gets the stored
	// options back.
	b.typeLine("quit")
	b.waitJS("the close", `evtest.closes.includes(1000)`)
	waitSessions(t, h, "Pagey gone", func(l []host.SessionInfo) bool { return len(l) == 1 })
	b.eval(`evtest.got.webclient_options = undefined, evtest.got.logged_in = undefined, evtest.connect(), true`, new(bool))
	b.waitState("connected")
	b.typeLine("connect Pagey pagepass1")
	b.waitJS("logged_in again", `evtest.got.logged_in !== undefined`)
	b.waitJS("the stored options", `evtest.got.webclient_options !== undefined && evtest.got.webclient_options.gagprompt === false`)
	b.noProblems()
}
