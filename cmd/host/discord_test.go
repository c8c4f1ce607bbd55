package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/plugins/discord/discordfake"
)

// discordToken is the fake Discord's bot token: it must never appear in a
// log, the CLI's output, the host's sessions or its database.
const discordToken = "MTAwMDAwMDAwMDAwMDAwMDAx.e2e-token.never-in-any-log-Zq9"

// discordChannel is the bridged Discord channel: an id past 2^53, which a
// float64 would turn into 1234567890123456768.
const discordChannel = "1234567890123456789"

// discordPlugin enables the Discord bridge plugin against api, and the
// IRC plugin (for its checks of a bot's keys).
func discordPlugin(api string) string {
	return fmt.Sprintf("  discord:\n    enabled: true\n    config:\n      api_url: %q\n", api) + ircPlugin
}

// Discord users of the end-to-end test.
var (
	discordAlice = discordfake.User{ID: "200000000000000001", Username: "alice"}
	discordBob   = discordfake.User{ID: "200000000000000002", Username: "bob"}
)

// TestDiscordBridge bridges the game's public channel to a fake Discord
// with the real host, the real plugin and a telnet player: the bot is
// made from the command line (a bad key and a literal token are refused
// first, and nothing is stored); messages go both ways in Evennia's
// format; @everyone pings nobody; the gateway dropping mid-session is
// resumed with nothing lost or doubled either way; INVALID_SESSION makes
// it identify again; a 429 delays a message without dropping it; direct
// messages are answered; a host reload keeps the gateway connection (no
// new IDENTIFY); a SIGKILLed plugin is restarted and the bot comes back;
// a bot with a refused token shows "failed: authentication failed" in
// `portico bot list` without trying again. The token appears in no log
// file, no CLI output, no `sessions --json` and not in the database.
func TestDiscordBridge(t *testing.T) {
	fake, err := discordfake.Start(discordfake.Options{Token: discordToken, Channels: map[string]string{discordChannel: "general"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	tokenDir := t.TempDir()
	tokenFile := filepath.Join(tokenDir, "token")
	writeFile(t, tokenFile, discordToken+"\n")
	h := startHostWith(t, hostOptions{extra: discordPlugin(fake.APIURL())})
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(h.dir, "data", "logs", "discord.log")); err == nil {
				t.Logf("discord.log:\n%s", b)
			}
		}
	})
	h.waitPlugin("discord", func(p pluginStatus) bool { return p.State == "running" })
	h.waitPlugin("irc", func(p pluginStatus) bool { return p.State == "running" })
	var cliOut strings.Builder
	cli := func(args ...string) string {
		t.Helper()
		out := runPortico(t, h, "", args...)
		cliOut.WriteString(out)
		return out
	}
	// refused runs a command that must fail, naming want.
	refused := func(want string, args ...string) {
		t.Helper()
		out, err := porticoOutput(h, args...)
		cliOut.WriteString(out)
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("portico %s: %v, output %q; want a failure naming %s", strings.Join(args, " "), err, out, want)
		}
	}
	runPortico(t, h, "adminpass1\n", "account", "create", "Admin", "--admin")
	admin := dialTelnet(t, h.telnetAddr)
	admin.login("Admin", "adminpass1", false)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Admin's telnet output:\n%s", admin.Since(0))
		}
	})

	// Mistakes are refused by the plugin, naming the key; nothing stored.
	add := func(name string, kv ...string) []string {
		return append([]string{"bot", "add", name, "--protocol", "discord", "--channel", "public"}, kv...)
	}
	refused(`"tokn_file"`, add("discbot", "channel_id="+discordChannel, "tokn_file="+tokenFile)...)
	refused(`config key "token"`, add("discbot", "channel_id="+discordChannel, "token=not-a-real-token")...)
	refused(`config key "channel_id"`, add("discbot", "channel_id=general", "token_file="+tokenFile)...)
	refused(`config key "api_url"`, add("discbot", "channel_id="+discordChannel, "token_file="+tokenFile, "api_url=https://discord.com/api/v10/")...)
	refused(`"chanel"`, "bot", "add", "ircbot", "--protocol", "irc", "--channel", "public", "network=irc.example.net", "chanel=#x", "nick=ircbot")
	refused(`no running plugin serves "grapevine"`, "bot", "add", "gv", "--protocol", "grapevine", "--channel", "public")
	if out := cli("bot", "list"); strings.Contains(out, "discbot") || strings.Contains(out, "ircbot") || strings.Contains(out, "gv ") {
		t.Fatalf("a refused bot was stored:\n%s", out)
	}

	// The bot: its id reaches Discord exactly.
	if out := cli(add("discbot", "channel_id="+discordChannel, "token_file="+tokenFile)...); !strings.Contains(out, "Bot discbot created") {
		t.Fatalf("bot add: %s", out)
	}
	waitDiscord(t, fake, "the bot connected", func() bool { return fake.Connected() == 1 })
	ids := fake.Identifies()
	if len(ids) != 1 || !ids[0].TokenOK || ids[0].Intents != 1<<0|1<<9|1<<12|1<<15 || ids[0].Query.Get("v") != "10" {
		t.Fatalf("identify: %+v", ids)
	}
	discordBothWays(t, fake, admin, "first")
	admin.send("public ping @everyone and <@200000000000000002>")
	p := waitPost(t, fake, "ping @everyone")
	if p.ChannelID != discordChannel {
		t.Fatalf("posted to channel %s, want %s", p.ChannelID, discordChannel)
	}
	if p.Content != `\[public\] Admin: ping @everyone and \<@200000000000000002>` || string(p.AllowedMentions) != `{"parse":[],"replied_user":false}` {
		t.Fatalf("posted %q with allowed_mentions %s", p.Content, p.AllowedMentions)
	}
	if out := cli("bot", "list"); !strings.HasPrefix(out, "BOT ") || !strings.Contains(out, "LAST ERROR") || !rowHas(out, "discbot", "connected since") {
		t.Fatalf("portico bot list:\n%s", out)
	}
	if out := cli("status"); !rowHas(out, "discbot", "connected since") {
		t.Fatalf("portico status:\n%s", out)
	}
	admin.send("@bots")
	if out := admin.expect("discord " + discordChannel + "  connected since"); !strings.Contains(out, "Last error") {
		t.Fatalf("@bots:\n%s", out)
	}

	// The gateway drops: the bot resumes; what either side said meanwhile
	// arrives once.
	mark := admin.Mark()
	fake.DropConnections()
	fake.Say(discordChannel, discordAlice, "Ally", "said while the gateway was down")
	admin.send("public typed while the gateway was down")
	waitDiscord(t, fake, "RESUME", func() bool { return fake.Resumes() == 1 && fake.Connected() == 1 })
	discordBothWays(t, fake, admin, "after the resume")
	if n := strings.Count(admin.Since(mark), "Ally: said while the gateway was down"); n != 1 {
		t.Errorf("the line said on Discord during the drop reached the game %d times", n)
	}
	if n := countPosts(fake, "typed while the gateway was down"); n != 1 {
		t.Errorf("the line typed in the game during the drop reached Discord %d times", n)
	}
	if n := len(fake.Identifies()); n != 1 {
		t.Errorf("%d IDENTIFYs after a drop: it must resume", n)
	}

	// INVALID_SESSION: a new IDENTIFY, and it relays on.
	fake.InvalidateSessions()
	waitDiscord(t, fake, "a second IDENTIFY", func() bool { return len(fake.Identifies()) == 2 && fake.Connected() == 1 })
	discordBothWays(t, fake, admin, "after re-identify")

	// A 429: the message waits for retry_after and is sent once.
	fake.RateLimit(1, time.Second)
	admin.send("public held back by a rate limit")
	p = waitPost(t, fake, "held back by a rate limit")
	if l := fake.RateLimited(); len(l) != 1 || p.At.Sub(l[0]) < time.Second {
		t.Errorf("429 at %v, sent at %v: not after retry_after", l, p.At)
	}
	if n := countPosts(fake, "held back by a rate limit"); n != 1 {
		t.Errorf("the rate-limited message was sent %d times", n)
	}

	// Direct messages: who is answered, anything else gets help.
	fake.DirectMessage(discordBob, "who")
	if p := waitPost(t, fake, "Connected: "); p.ChannelID != discordfake.DMChannel(discordBob) || !strings.Contains(p.Content, "Admin") || strings.Contains(p.Content, "discbot") {
		t.Fatalf("who answered %+v", p)
	}
	fake.DirectMessage(discordBob, "hello")
	waitPost(t, fake, "I understand")

	// A reload keeps the gateway connection: no new IDENTIFY or RESUME.
	identifies, resumes := len(fake.Identifies()), fake.Resumes()
	cli("reload")
	admin.expect("Server restarted.")
	discordBothWays(t, fake, admin, "after a reload")
	if len(fake.Identifies()) != identifies || fake.Resumes() != resumes {
		t.Fatalf("the reload made the bot connect again: %d IDENTIFYs, %d RESUMEs", len(fake.Identifies()), fake.Resumes())
	}

	// The plugin SIGKILLed: the host starts it again, and the bot.
	dead := h.waitPlugin("discord", func(p pluginStatus) bool { return p.State == "running" })
	if err := syscall.Kill(dead.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitPlugin("discord", func(p pluginStatus) bool { return p.State == "running" && p.PID != dead.PID })
	waitDiscord(t, fake, "the bot back", func() bool { return len(fake.Identifies()) == identifies+1 && fake.Connected() == 1 })
	discordBothWays(t, fake, admin, "after the plugin restarted")

	// A refused token: failed, shown, not retried.
	badFile := filepath.Join(tokenDir, "bad")
	writeFile(t, badFile, "not-the-token\n")
	cli(add("badbot", "channel_id="+discordChannel, "token_file="+badFile)...)
	deadline := time.Now().Add(20 * time.Second)
	var list string
	for !rowHas(list, "badbot", "failed: authentication failed") {
		if time.Now().After(deadline) {
			t.Fatalf("badbot never failed:\n%s", list)
		}
		time.Sleep(100 * time.Millisecond)
		list = cli("bot", "list")
	}
	if !rowHas(list, "badbot", "4004") {
		t.Errorf("badbot's last error does not say why:\n%s", list)
	}
	time.Sleep(3 * time.Second) // the backoff would have tried again by now
	bad := 0
	for _, id := range fake.Identifies() {
		if !id.TokenOK {
			bad++
		}
	}
	if bad != 1 {
		t.Errorf("%d IDENTIFYs with the refused token, want 1", bad)
	}
	if out := cli("status"); !rowHas(out, "badbot", "failed: authentication failed") {
		t.Errorf("portico status:\n%s", out)
	}

	// The token is nowhere it could leak.
	sessions, err := porticoOutput(h, "sessions", "--json")
	if err != nil {
		t.Fatal(err)
	}
	cliOut.WriteString(sessions)
	if strings.Contains(cliOut.String(), discordToken) {
		t.Error("the token is in the CLI's output")
	}
	h.stopProcess()
	for _, dir := range []string{filepath.Join(h.dir, "data", "logs"), filepath.Join(h.dir, "data")} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && strings.Contains(string(b), discordToken) {
				t.Errorf("the token is in %s", e.Name())
			}
		}
	}
	if strings.Contains(h.logText(), discordToken) {
		t.Error("the token is in the host's output")
	}
}

// discordBothWays checks one line each way between the fake Discord and a
// telnet player on public.
func discordBothWays(t *testing.T, fake *discordfake.Server, player *telnetClient, tag string) {
	t.Helper()
	fake.Say(discordChannel, discordAlice, "Ally", "from discord "+tag)
	player.expect("[public] [#general@Portico Test] Ally: from discord " + tag)
	player.send("public from the game " + tag)
	if p := waitPost(t, fake, "from the game "+tag); p.Content != `\[public\] Admin: from the game `+tag {
		t.Fatalf("posted %q", p.Content)
	}
}

// waitDiscord waits until cond, on the fake's records, holds.
func waitDiscord(t *testing.T, fake *discordfake.Server, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fake.Wait(ctx, cond); err != nil {
		t.Fatalf("fake Discord: timed out waiting for %s (identifies %+v, resumes %d, connected %d)",
			what, fake.Identifies(), fake.Resumes(), fake.Connected())
	}
}

// waitPost waits for a message to Discord holding text, and returns it.
func waitPost(t *testing.T, fake *discordfake.Server, text string) discordfake.Post {
	t.Helper()
	var found discordfake.Post
	waitDiscord(t, fake, "a message with "+text, func() bool {
		for _, p := range fake.Posts() {
			if strings.Contains(p.Content, text) {
				found = p
				return true
			}
		}
		return false
	})
	return found
}

// countPosts counts the messages to Discord holding text.
func countPosts(fake *discordfake.Server, text string) int {
	n := 0
	for _, p := range fake.Posts() {
		if strings.Contains(p.Content, text) {
			n++
		}
	}
	return n
}

// rowHas reports whether a line of out starts with name and holds want.
func rowHas(out, name, want string) bool {
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, name+" ") && strings.Contains(line, want) {
			return true
		}
	}
	return false
}

// porticoOutput runs the portico CLI on the host's config and returns its
// output and error, for commands that may fail.
func porticoOutput(h *testHost, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, "portico"), append(args, "--config", h.configPath)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
