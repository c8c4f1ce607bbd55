package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
	gossh "golang.org/x/crypto/ssh"
)

// The host is the only authority on who is logged in: these tests run a
// hostile plugin (testdata/claimplugin, built only on the public SDK) that
// reports sessions logged in as accounts the host never logged them in as.

func claimBinary(t *testing.T) string {
	return buildOnce(t, "portico-claim", ".", "./testdata/claimplugin")
}

// notAvailable is what an unlogged-in session, or a player who is not an
// admin, gets for an admin command.
const notAvailable = "Command '@ban' is not available."

// dialClaim connects to the claim plugin and sends the first line, which
// decides how it announces the session ("guest", or "as UID PUID").
func dialClaim(t *testing.T, addr, first string) *telnetClient {
	t.Helper()
	c := dialTelnet(t, addr)
	c.expect("claimplugin: first line")
	c.send(first)
	return c
}

// claimed is a session as the claim plugin holds it.
type claimed struct {
	sessid   uint64
	loggedIn bool
	uid      int64
	puid     int64
}

var whoamiRE = regexp.MustCompile(`^(\d+) logged_in (true|false) uid (-?\d+) puid (-?\d+)\r\n$`)

// whoami asks the claim plugin what it holds for the client's session.
func whoami(t *testing.T, c *telnetClient) claimed {
	t.Helper()
	c.send("whoami")
	c.expect("claimplugin: session ")
	m := whoamiRE.FindStringSubmatch(c.expect("\r\n"))
	if m == nil {
		t.Fatal("whoami: unexpected answer")
	}
	id, _ := strconv.ParseUint(m[1], 10, 64)
	uid, _ := strconv.ParseInt(m[3], 10, 64)
	puid, _ := strconv.ParseInt(m[4], 10, 64)
	return claimed{sessid: id, loggedIn: m[2] == "true", uid: uid, puid: puid}
}

// createAccountID creates an account with the CLI and returns its id.
func createAccountID(t *testing.T, h *testHost, name, password string, admin bool) int64 {
	t.Helper()
	args := []string{"account", "create", name}
	if admin {
		args = append(args, "--admin")
	}
	out := runPortico(t, h, password+"\n", args...)
	m := regexp.MustCompile(`\(#(\d+)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("account create %s said %q", name, out)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

// sessionByID finds a session in `portico sessions`.
func sessionByID(t *testing.T, h *testHost, id uint64) host.SessionInfo {
	t.Helper()
	list, err := h.sessions()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Sessid == id {
			return s
		}
	}
	t.Fatalf("no session %d in %+v", id, list)
	return host.SessionInfo{}
}

// wantRefused checks that the host refused c's claim: the host has c
// logged out whatever the plugin holds, no admin command works from it,
// and the host logged the claim with its plugin, session, account and
// character.
func wantRefused(t *testing.T, h *testHost, c *telnetClient, plugin string, id uint64, uid, puid int64) {
	t.Helper()
	if s := sessionByID(t, h, id); s.LoggedIn || s.Account != "" {
		t.Errorf("session %d as the host sees it: logged in %v as %q; want logged out", id, s.LoggedIn, s.Account)
	}
	// Marked before sending: the answer may come before the wait starts.
	mark := c.Mark()
	c.send("@ban")
	if got := expectOneOf(t, c, mark, notAvailable, "No bans.", "Bans:"); got != notAvailable {
		t.Errorf("session %d ran @ban as an admin: %q", id, got)
	}
	line := fmt.Sprintf(`msg="refused login claim" plugin=%s sessid=%d uid=%d puid=%d`, plugin, id, uid, puid)
	waitLog(t, h, line)
}

// expectOneOf waits until one of wants appears in c's output after mark,
// and returns it.
func expectOneOf(t *testing.T, c *telnetClient, mark int, wants ...string) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		out := c.Since(mark)
		for _, w := range wants {
			if strings.Contains(out, w) {
				return w
			}
		}
		select {
		case <-c.Updated():
		case <-c.Closed():
			t.Fatalf("connection closed waiting for one of %q; output: %q", wants, c.Since(mark))
		case <-timeout:
			t.Fatalf("timed out waiting for one of %q; output: %q", wants, c.Since(mark))
		}
	}
}

// TestPluginClaimRefusedAcrossReload: a plugin reports sessions logged in
// as the admin — a guest's, a player's and one announced so — and the host
// reloads: only the session the host logged in as the admin comes back as
// the admin; the others are logged out, see the connection screen, cannot
// run @ban, and each refused claim is in the host's log.
func TestPluginClaimRefusedAcrossReload(t *testing.T) {
	port := conntest.FreePort(t)
	h := startHostWith(t, hostOptions{extra: pluginBlock("claim", claimBinary(t), port, "")})
	dumpPluginLog(t, h, "claim")
	h.waitPlugin("claim", func(p pluginStatus) bool { return p.State == "running" })
	bossID := createAccountID(t, h, "Boss", "bosspass1", true)
	createAccountID(t, h, "Pete", "petepass1", false)
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	// The admin logs in through the plugin, as the host checks it.
	boss := dialClaim(t, addr, "guest")
	boss.login("Boss", "bosspass1", false)
	real := whoami(t, boss)
	if !real.loggedIn || real.uid != bossID || real.puid == 0 {
		t.Fatalf("the admin's session as the plugin holds it: %+v", real)
	}
	clone := fmt.Sprintf("clone %d", real.sessid)

	guest := dialClaim(t, addr, "guest")
	guest.expect("Welcome to TestGame")
	guest.send(clone)
	guest.expect("claimplugin: cloned session")
	pete := dialClaim(t, addr, "guest")
	pete.login("Pete", "petepass1", false)
	pete.send(clone)
	pete.expect("claimplugin: cloned session")
	announced := dialClaim(t, addr, fmt.Sprintf("as %d %d", bossID, real.puid))
	announced.expect("Welcome to TestGame")
	claims := []*telnetClient{guest, pete, announced}
	ids := make([]uint64, len(claims))
	for i, c := range claims {
		ids[i] = whoami(t, c).sessid
	}
	// The running host believes none of it.
	for _, c := range claims {
		c.send("@ban")
		c.expect(notAvailable)
	}

	runPortico(t, h, "", "reload")
	for _, c := range append([]*telnetClient{boss}, claims...) {
		c.expect("Server restarted.")
	}
	for i, c := range claims {
		wantRefused(t, h, c, "claim", ids[i], bossID, real.puid)
		c.expect("Welcome to TestGame") // a logged-out session's screen came after the restart notice
	}
	// The admin the host logged in is still the admin; nobody else banned
	// anything.
	boss.send("@ban")
	boss.expect("No bans.")
	if s := sessionByID(t, h, real.sessid); !s.LoggedIn || s.Account != "Boss" {
		t.Errorf("the admin's own session after the reload: %+v", s)
	}
	h.waitFor("one admin online", func(st hostStatus) bool { return st.AccountsOnline == 1 && st.Sessions == 4 })
}

// TestClaimRefusedAfterHostKill: the host is killed (SIGKILL) and started
// again; it reattaches to the plugins. Sessions it had logged in are
// logged in again, a telnet player's and the admin's on the claim plugin;
// a session the claim plugin says is the admin, which the host never
// logged in, is not.
func TestClaimRefusedAfterHostKill(t *testing.T) {
	port := conntest.FreePort(t)
	h := startHostWith(t, hostOptions{extra: pluginBlock("claim", claimBinary(t), port, "")})
	dumpPluginLog(t, h, "claim")
	h.waitPlugin("claim", func(p pluginStatus) bool { return p.State == "running" })
	bossID := createAccountID(t, h, "Boss", "bosspass1", true)
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	erin := dialTelnet(t, h.telnetAddr)
	erin.login("Erin", "erinpass1", true)
	boss := dialClaim(t, addr, "guest")
	boss.login("Boss", "bosspass1", false)
	real := whoami(t, boss)
	thief := dialClaim(t, addr, "guest")
	thief.expect("Welcome to TestGame")
	thief.send(fmt.Sprintf("clone %d", real.sessid))
	thief.expect("claimplugin: cloned session")
	thiefID := whoami(t, thief).sessid
	telnet := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })

	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-h.exited
	erin.expect("The server is restarting; please wait a moment.")
	h.start()
	for _, c := range []*telnetClient{erin, boss, thief} {
		c.expect("Server restarted.")
	}
	if after := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" }); after.PID != telnet.PID {
		t.Fatalf("telnet plugin pid %d -> %d: it must be reattached", telnet.PID, after.PID)
	}
	erin.send("say still here")
	erin.expect(`You say, "still here"`)
	boss.send("@ban")
	boss.expect("No bans.")
	wantRefused(t, h, thief, "claim", thiefID, bossID, real.puid)
	thief.expect("Welcome to TestGame")
	st := h.waitFor("Erin and Boss online", func(st hostStatus) bool { return st.AccountsOnline == 2 })
	if st.Sessions != 3 {
		t.Fatalf("status after the restart: %+v", st)
	}
	if strings.Contains(h.logText(), "cannot reattach") {
		t.Fatalf("the host could not reattach:\n%s", h.logText())
	}
}

var botRE = regexp.MustCompile(`claimplugin: bot relay uid (\d+) session (\d+)\r\n`)

// TestBotClaimOnlyFromItsPlugin: a bot started on one plugin is logged in;
// a session announced as that bot by another plugin, or by the bot's own
// plugin but not as the bot's session, is refused and logged. The bot stays
// logged in across a reload; the refused sessions stay logged out.
func TestBotClaimOnlyFromItsPlugin(t *testing.T) {
	port, port2 := conntest.FreePort(t), conntest.FreePort(t)
	bin := claimBinary(t)
	h := startHostWith(t, hostOptions{extra: pluginBlock("claim", bin, port, "") + pluginBlock("claim2", bin, port2, "")})
	dumpPluginLog(t, h, "claim")
	dumpPluginLog(t, h, "claim2")
	h.waitPlugin("claim", func(p pluginStatus) bool { return p.State == "running" })
	h.waitPlugin("claim2", func(p pluginStatus) bool { return p.State == "running" })
	addr, addr2 := fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port2)

	runPortico(t, h, "", "bot", "add", "relay", "--protocol", "claim", "--channel", "public")
	h.waitFor("the bot logged in", func(st hostStatus) bool { return st.AccountsOnline == 1 })
	look := dialClaim(t, addr, "guest")
	look.send("bots")
	m := botRE.FindStringSubmatch(look.expect("end of bots"))
	if m == nil {
		t.Fatal("the claim plugin runs no bot relay")
	}
	botUID, _ := strconv.ParseInt(m[1], 10, 64)
	botSess, _ := strconv.ParseUint(m[2], 10, 64)
	if s := sessionByID(t, h, botSess); s.Plugin != "claim" || !s.LoggedIn || s.Account != "relay" {
		t.Fatalf("the bot's session: %+v", s)
	}

	as := fmt.Sprintf("as %d 0", botUID)
	other := dialClaim(t, addr2, as) // another plugin's bot
	other.expect("Welcome to TestGame")
	otherID := whoami(t, other).sessid
	wantRefused(t, h, other, "claim2", otherID, botUID, 0)
	same := dialClaim(t, addr, as) // its own plugin, not its session
	same.expect("Welcome to TestGame")
	sameID := whoami(t, same).sessid
	wantRefused(t, h, same, "claim", sameID, botUID, 0)
	if s := sessionByID(t, h, botSess); !s.LoggedIn || s.Account != "relay" {
		t.Fatalf("the bot's session after the claims: %+v", s)
	}

	runPortico(t, h, "", "reload")
	for _, c := range []*telnetClient{look, other, same} {
		c.expect("Server restarted.")
	}
	h.waitFor("the bot alone logged in", func(st hostStatus) bool { return st.AccountsOnline == 1 && st.Sessions == 4 })
	if s := sessionByID(t, h, botSess); !s.LoggedIn || s.Account != "relay" {
		t.Fatalf("the bot's session after the reload: %+v", s)
	}
	for _, id := range []uint64{otherID, sameID} {
		if s := sessionByID(t, h, id); s.LoggedIn {
			t.Errorf("session %d logged in after the reload: %+v", id, s)
		}
	}
}

// TestKeyLoginOnlyFromTrustedPlugin: an SSH public key is no secret, so a
// plugin that knows an admin's registered key (and need not hold its
// private half) claims a key login as the admin. From a plugin not marked
// trust_key_logins the host refuses it: the session arrives logged out,
// cannot run @ban, and the refused claim is logged. The same claim from a
// plugin the operator marked trusted logs in, as the SSH plugin's does.
func TestKeyLoginOnlyFromTrustedPlugin(t *testing.T) {
	port, port2 := conntest.FreePort(t), conntest.FreePort(t)
	bin := claimBinary(t)
	h := startHostWith(t, hostOptions{extra: pluginBlock("claim", bin, port, "") +
		pluginBlock("trusted", bin, port2, "    trust_key_logins: true\n")})
	dumpPluginLog(t, h, "claim")
	dumpPluginLog(t, h, "trusted")
	h.waitPlugin("claim", func(p pluginStatus) bool { return p.State == "running" })
	h.waitPlugin("trusted", func(p pluginStatus) bool { return p.State == "running" })
	createAccountID(t, h, "Boss", "bosspass1", true)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "boss.pub")
	if err := os.WriteFile(keyFile, gossh.MarshalAuthorizedKey(key), 0o600); err != nil {
		t.Fatal(err)
	}
	runPortico(t, h, "", "account", "add-key", "Boss", keyFile)
	first := "key Boss " + base64.StdEncoding.EncodeToString(key.Marshal())

	thief := dialClaim(t, fmt.Sprintf("127.0.0.1:%d", port), first)
	thief.expect("Welcome to TestGame")
	got := whoami(t, thief)
	if got.loggedIn {
		t.Errorf("the untrusted plugin's key login is logged in: %+v", got)
	}
	if s := sessionByID(t, h, got.sessid); s.LoggedIn || s.Account != "" {
		t.Errorf("session %d as the host sees it: logged in %v as %q; want logged out", got.sessid, s.LoggedIn, s.Account)
	}
	mark := thief.Mark()
	thief.send("@ban")
	if ans := expectOneOf(t, thief, mark, notAvailable, "No bans.", "Bans:"); ans != notAvailable {
		t.Errorf("the untrusted key login ran @ban as an admin: %q", ans)
	}
	waitLog(t, h, fmt.Sprintf(`msg="refused login claim" plugin=claim sessid=%d name=Boss`, got.sessid))

	boss := dialClaim(t, fmt.Sprintf("127.0.0.1:%d", port2), first)
	boss.expect("You become Boss.")
	boss.send("@ban")
	boss.expect("No bans.")
	h.waitFor("only Boss online", func(st hostStatus) bool { return st.AccountsOnline == 1 && st.Sessions == 2 })
}
