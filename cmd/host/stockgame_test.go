package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/core/host"
)

// TestWebclientOptionsKeptOnAccount: the stock game keeps a player's
// webclient options on their account (the attribute store), as Evennia
// does: another browser that logs in later gets them, and so does one
// after a reload, whose image read them back from the database.
func TestWebclientOptionsKeptOnAccount(t *testing.T) {
	h, web := startWebHost(t, "")
	w := dialWS(t, web, "")
	w.expect("Welcome to TestGame")
	w.command("create Opal opalpass12")
	w.expect("was created")
	w.command("connect Opal opalpass12")
	w.expect("You become Opal.")
	w.send(websocket.MessageText, `["webclient_options",[],{"helppopup":true,"cmdid":7}]`)
	w.send(websocket.MessageText, `["webclient_options",[],{}]`)
	w.expect(`"helppopup":true`)
	if err := w.c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	waitSessions(t, h, "Opal's first session gone", func(l []host.SessionInfo) bool { return len(l) == 0 })

	// Another browser, another session: the options are the account's.
	w2 := dialWS(t, web, "")
	w2.expect("Welcome to TestGame")
	w2.send(websocket.MessageText, `["webclient_options",[],{}]`)
	w2.expect(`"helppopup":false`) // not logged in yet: the defaults
	w2.command("connect Opal opalpass12")
	w2.expect("You become Opal.")
	w2.send(websocket.MessageText, `["webclient_options",[],{}]`)
	w2.expect(`"helppopup":true`)

	// Changed just before a reload: the new image reads the account's
	// options from the database, for a browser that logs in afresh.
	w2.send(websocket.MessageText, `["webclient_options",[],{"notification_popup":true}]`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, filepath.Join(binDir, "portico"), "reload", "--config", h.configPath).CombinedOutput(); err != nil {
		t.Fatalf("portico reload: %v\n%s", err, out)
	}
	w2.expect("Server restarted.")
	w3 := dialWS(t, web, "")
	w3.expect("Welcome to TestGame")
	w3.command("connect Opal opalpass12")
	w3.expect("You become Opal.")
	w3.send(websocket.MessageText, `["webclient_options",[],{}]`)
	got := w3.expect(`"webclient_options"`)
	for _, want := range []string{`"helppopup":true`, `"notification_popup":true`} {
		if !strings.Contains(got, want) {
			t.Errorf("after the reload: %s, want %s", got, want)
		}
	}
}
