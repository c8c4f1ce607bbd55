package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/coder/websocket"
	"github.com/portico-mud/portico/core/host"
)

// TestWebclientInBrowser plays from headless Chromium against the real
// binaries: the page connects, a player creates an account and logs in
// (the password typed into a password field), talks with a telnet player
// both ways, reloads the page and is still logged in on the same session,
// and quits. Screenshots are kept as test artifacts.
func TestWebclientInBrowser(t *testing.T) {
	b := newBrowser(t) // skips (or, under CI, fails) without Chromium
	h, web := startWebHost(t, "")
	tom := dialTelnet(t, h.telnetAddr)
	tom.login("Tom", "tompass12", true)

	b.run("open the webclient", chromedp.Navigate(web+"/"))
	b.waitState("connected")
	b.waitOutput("Welcome to TestGame")
	var title string
	b.eval(`document.title`, &title)
	if title != "TestGame" {
		t.Errorf("page title %q", title)
	}

	// A password typed on the login line is masked in the echo and kept
	// out of the input history.
	b.typeLine("connect Nobody hunter2pw")
	b.waitOutput("Username and/or password is incorrect.")
	b.waitOutput("connect Nobody ********")
	var history string
	b.eval(`sessionStorage.getItem("portico.history") || ""`, &history)
	if out := b.output(); strings.Contains(out, "hunter2pw") || strings.Contains(history, "hunter2pw") {
		t.Fatalf("the password shows: history %q, output:\n%s", history, out)
	}

	// Create the account the way that hides the password.
	b.typeLine("create Wendy")
	b.waitInputType("password")
	b.waitJS("the password prompt", `document.getElementById("prompt").innerText.includes("Password:")`)
	b.typeLine("wendypass1")
	b.waitOutput("A new account 'Wendy' was created.")
	b.waitInputType("text")
	b.typeLine("connect Wendy")
	b.waitInputType("password")
	b.typeLine("wendypass1")
	b.waitOutput("You become Wendy.")
	b.waitInputType("text")
	if out := b.output(); strings.Contains(out, "wendypass1") {
		t.Fatalf("the password shows in the page:\n%s", out)
	}

	// Talk both ways.
	b.typeLine("say Hello from the browser!")
	tom.expect(`Wendy says, "Hello from the browser!"`)
	b.waitOutput(`You say, "Hello from the browser!"`)
	tom.send("say Hi Wendy, telnet here.")
	b.waitOutput(`Tom says, "Hi Wendy, telnet here."`)

	// The host has one websocket session, Wendy's, with the page's size.
	list := waitSessions(t, h, "Wendy's session with her screen size", func(l []host.SessionInfo) bool {
		if len(l) != 1 {
			return false
		}
		w, _ := l[0].ProtocolFlags["SCREENWIDTH"].(float64)
		return l[0].LoggedIn && l[0].Account == "Wendy" && w >= 20
	})
	wendy := list[0]
	name, _ := wendy.ProtocolFlags["CLIENTNAME"].(string)
	if !strings.HasPrefix(name, "Evennia Webclient (websocket:HeadlessChrome ") || !strings.HasSuffix(name, " [portico.v1])") {
		t.Errorf("CLIENTNAME %q", name)
	}
	t.Logf("session %d: %s, %v columns, %v rows", wendy.Sessid, name,
		wendy.ProtocolFlags["SCREENWIDTH"], wendy.ProtocolFlags["SCREENHEIGHT"])
	b.screenshot("webclient")

	// Reload: the same session, still logged in.
	var firstToken string
	b.eval(`sessionStorage.getItem("portico.csessid")`, &firstToken)
	b.run("reload the page", chromedp.Reload())
	b.waitState("connected")
	b.waitOutput("Reconnected: your session was resumed.")
	b.waitOutput(`Tom says, "Hi Wendy, telnet here."`) // the scrollback came back too
	b.typeLine("@sessions")
	b.waitOutput("Your current session(s):")
	row := regexp.MustCompile(`(?m)^\s*(\d+)\s+websocket\s`).FindStringSubmatch(b.output())
	if row == nil || row[1] != fmt.Sprint(wendy.Sessid) {
		t.Fatalf("@sessions after the reload shows %v, want session %d:\n%s", row, wendy.Sessid, b.output())
	}
	after := websocketSessions(t, h)
	if len(after) != 1 || after[0].Sessid != wendy.Sessid || !after[0].LoggedIn || after[0].Account != "Wendy" {
		t.Fatalf("websocket sessions after the reload: %+v (before: session %d)", after, wendy.Sessid)
	}
	// The page's resume token went in its first message, never in a URL.
	var csessid string
	b.eval(`sessionStorage.getItem("portico.csessid")`, &csessid)
	urls := b.websocketURLs()
	if csessid == "" || len(urls) < 2 {
		t.Fatalf("csessid %q, websocket URLs %q", csessid, urls)
	}
	for _, u := range urls {
		if strings.Contains(u, csessid) || strings.Contains(u, firstToken) {
			t.Fatalf("the resume token is in the websocket URL %q", u)
		}
	}
	// The resume renewed the token, and the page stored the new one: a
	// second reload resumes with it, still logged in (the first token
	// resumes nothing any more).
	if csessid == firstToken {
		t.Fatalf("the page kept its token %q through a resume", csessid)
	}
	b.run("reload the page again", chromedp.Reload())
	b.waitState("connected")
	b.typeLine("say Reloaded twice.")
	tom.expect(`Wendy says, "Reloaded twice."`)
	var thirdToken string
	b.eval(`sessionStorage.getItem("portico.csessid")`, &thirdToken)
	if thirdToken == csessid || thirdToken == firstToken {
		t.Fatalf("token after the second reload %q, before it %q", thirdToken, csessid)
	}
	if l := websocketSessions(t, h); len(l) != 1 || l[0].Sessid != wendy.Sessid {
		t.Fatalf("websocket sessions after the second reload: %+v (session %d)", l, wendy.Sessid)
	}
	b.typeLine("say Still here after a reload.")
	tom.expect(`Wendy says, "Still here after a reload."`)
	b.waitOutput(`You say, "Still here after a reload."`)
	b.screenshot("webclient-after-reload")

	// History: the last command comes back with the up arrow.
	b.run("press up", chromedp.SendKeys("#input", kb.ArrowUp, chromedp.ByID))
	var recalled string
	b.eval(`document.getElementById("input").value`, &recalled)
	if recalled != "say Still here after a reload." {
		t.Errorf("up arrow recalled %q", recalled)
	}
	b.run("clear the input", chromedp.Evaluate(`document.getElementById("input").value = ""`, nil))

	// Quit ends the session at once, and the page does not reconnect.
	b.typeLine("quit")
	b.waitOutput("Quitting. Hope to see you again, soon.")
	b.waitState("closed")
	waitSessions(t, h, "no websocket session after quit", func(l []host.SessionInfo) bool { return len(l) == 0 })
	b.noProblems()
}

// TestWebsocketClientsAgainstHost speaks the wire formats raw to the real
// plugin and host: login, OOB, bad input, a dropped connection resumed,
// a host reload survived, a clean close that ends the session at once.
func TestWebsocketClientsAgainstHost(t *testing.T) {
	h, web := startWebHost(t, "      resume_grace: 20s\n")
	const csessid = "00112233445566778899aabbccddeeff"
	w := dialWS(t, web, csessid+"&cuid1&GoTest")
	w.expect("Welcome to TestGame")
	w.command("create Rawley rawpass12")
	w.expect("A new account &#39;Rawley&#39; was created.") // HTML, as v1 sends text
	w.command("connect Rawley rawpass12")
	w.expect(`["logged_in",[],{"options":{}}]`)
	w.expect("You become Rawley.")

	// Bad input is explained; an unknown inputfunc is the host's to
	// answer, audibly once INPUTDEBUG is on.
	w.send(websocket.MessageText, `["text",["look"]`)
	w.expect("not valid JSON")
	w.send(websocket.MessageText, `["client_options",[],{"inputdebug":true}]`)
	w.send(websocket.MessageText, `["no_such_inputfunc",[],{}]`)
	w.expect("Input command not recognized")

	list := waitSessions(t, h, "Rawley's session", func(l []host.SessionInfo) bool { return len(l) == 1 && l[0].LoggedIn })
	id := list[0].Sessid

	// A dropped connection comes back to the same session.
	_ = w.c.CloseNow()
	w2 := dialWS(t, web, csessid+"&cuid2&GoTest")
	w2.expect("Reconnected: your session was resumed.")
	w2.command("@sessions")
	w2.expect(fmt.Sprint(id))
	if l := websocketSessions(t, h); len(l) != 1 || l[0].Sessid != id || !l[0].LoggedIn {
		t.Fatalf("after the resume: %+v", l)
	}

	// The host reloads; the plugin keeps the connection and the session.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, filepath.Join(binDir, "portico"), "reload", "--config", h.configPath).CombinedOutput(); err != nil {
		t.Fatalf("portico reload: %v\n%s", err, out)
	}
	w2.expect("Server restarted.")
	w2.command("say still connected")
	w2.expect("You say, &quot;still connected&quot;")
	if l := websocketSessions(t, h); len(l) != 1 || l[0].Sessid != id || !l[0].LoggedIn {
		t.Fatalf("after the reload: %+v", l)
	}

	// The GMCP subprotocol, side by side.
	g := dialWS(t, web, "", "gmcp.mudstandards.org")
	if g.c.Subprotocol() != "gmcp.mudstandards.org" {
		t.Fatalf("negotiated %q", g.c.Subprotocol())
	}
	g.expect("Welcome to TestGame")
	g.send(websocket.MessageText, "Core.Supports.Get")
	g.expect(`Core.Supports.Get {`)

	// A clean close ends the session at once, not after the grace.
	if err := w2.c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	waitSessions(t, h, "Rawley's session gone", func(l []host.SessionInfo) bool {
		for _, s := range l {
			if s.Sessid == id {
				return false
			}
		}
		return true
	})
}

// TestWebclientReconnects: a second tab presenting the first tab's
// csessid takes the session over, and the first tab says so and stays
// closed; when the plugin dies, the page shows it is reconnecting and
// comes back by itself once the host has restarted the plugin.
func TestWebclientReconnects(t *testing.T) {
	b := newBrowser(t)
	h, web := startWebHost(t, "")
	b.run("open the webclient", chromedp.Navigate(web+"/"))
	b.waitState("connected")
	b.waitOutput("Welcome to TestGame")
	var csessid string
	b.eval(`sessionStorage.getItem("portico.csessid")`, &csessid)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(csessid) {
		t.Fatalf("csessid %q is not 128 random bits in hex", csessid)
	}
	first := waitSessions(t, h, "the first tab's session", func(l []host.SessionInfo) bool { return len(l) == 1 })[0]

	// A duplicated tab: same csessid in its storage before the page runs.
	tab2 := b.newTab()
	tab2.run("give the tab the first tab's csessid", chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(
			fmt.Sprintf(`sessionStorage.setItem("portico.csessid", %q)`, csessid)).Do(ctx)
		return err
	}))
	tab2.run("open the webclient in a second tab", chromedp.Navigate(web+"/"))
	tab2.waitState("connected")
	tab2.waitOutput("Reconnected: your session was resumed.")
	b.waitState("closed")
	b.waitJS("the reason", `document.getElementById("status-text").innerText.includes("opened in another window")`)
	var rotated string
	b.eval(`sessionStorage.getItem("portico.csessid")`, &rotated)
	if rotated == csessid {
		t.Error("the first tab kept the csessid it lost the session to")
	}
	if l := websocketSessions(t, h); len(l) != 1 || l[0].Sessid != first.Sessid {
		t.Fatalf("after the takeover: %+v, want session %d alone", l, first.Sessid)
	}

	// The plugin dies: the page says so, and reconnects on its own.
	before := h.waitPlugin("websocket", func(p pluginStatus) bool { return p.State == "running" })
	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tab2.waitState("reconnecting")
	tab2.waitJS("the countdown", `document.getElementById("status-text").innerText.startsWith("Connection lost. Reconnecting in")`)
	tab2.screenshot("webclient-reconnecting")
	h.waitPlugin("websocket", func(p pluginStatus) bool { return p.State == "running" && p.PID != before.PID })
	tab2.waitState("connected")
	tab2.waitOutput("Welcome to TestGame")
	waitSessions(t, h, "a new session after the plugin came back", func(l []host.SessionInfo) bool {
		return len(l) == 1 && l[0].Sessid != first.Sessid
	})
	b.noProblems()
	tab2.noProblems()
}
