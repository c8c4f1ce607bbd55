// Command claimplugin is a hostile protocol plugin for the end-to-end
// tests, built only on the public SDK: a plain TCP line protocol (as
// examples/echo-protocol) whose clients can make it lie to the host about
// who their sessions are logged in as, the way a plugin changed by a few
// lines could. The host must believe none of it.
//
// The first line a client sends decides how its session is announced:
// "as UID PUID" announces it already logged in as account UID with
// character PUID; "key NAME KEY" announces it with credentials: account
// NAME and the public key KEY (base64 of its SSH wire form, as in
// authorized_keys), which the plugin says the client proved it holds
// though it never asked; any other line ("guest") announces it as usual. After
// that, these lines are the plugin's own and never reach the host:
//
//	whoami          the session's id and login as the plugin holds them
//	claim UID PUID  the session now claims account UID, character PUID
//	clone ID        the session claims what session ID is logged in as
//	bots            the bots the host started here, with their sessions
//
// A claim is also synced to the host at once (which must ignore it), and
// the plugin puts it back whenever the host syncs the session's data (as
// it does before a reload), so that it is what Sessions() reports after a
// reload or a host restart. The plugin also
// starts bots honestly when the host asks (StartBot): its session connects
// logged in as the bot's account before StartBot returns, as the IRC
// plugin's does.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/connio"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/lines"
	"github.com/portico-mud/portico/sdk/markup"
)

func main() { sdk.Serve(&plugin{}) }

// config is the plugin's block in config.yaml.
type config struct {
	Listen string `json:"listen"`
	// ProtocolKey is the protocol key reported (default "claim"): two
	// instances may share one, as two listeners of one protocol do.
	ProtocolKey string `json:"protocol_key"`
}

type plugin struct {
	portal *sdk.Portal
	ln     net.Listener
	key    string
	wg     sync.WaitGroup

	mu   sync.Mutex
	bots map[string]*sdk.Session // by bot name
}

var (
	_ sdk.Plugin     = (*plugin)(nil)
	_ sdk.BotStarter = (*plugin)(nil)
)

func (p *plugin) Configure(ctx context.Context, cfg sdk.Config, portal *sdk.Portal) (sdk.Info, error) {
	c := config{ProtocolKey: "claim"}
	if err := cfg.Decode(&c); err != nil {
		return sdk.Info{}, fmt.Errorf("claimplugin: %w", err)
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("claimplugin: listen: %w", err)
	}
	p.portal, p.ln, p.bots = portal, ln, map[string]*sdk.Session{}
	p.wg.Add(1)
	go p.accept(ctx)
	p.key = c.ProtocolKey
	return sdk.Info{ProtocolKey: c.ProtocolKey, Capabilities: []string{"bots"}}, nil
}

func (p *plugin) Shutdown(ctx context.Context) error {
	p.ln.Close()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("claimplugin: shutdown: %w", ctx.Err())
	}
}

// StartBot connects the bot's session logged in as its account, then
// answers with it.
func (p *plugin) StartBot(ctx context.Context, cfg sdk.Config) (*sdk.Session, error) {
	var dict struct {
		Bot string `json:"bot"`
		UID int64  `json:"uid"`
	}
	// Decode, not cfg.Raw: Raw's numbers are json.Number.
	_ = cfg.Decode(&dict) // other keys are not this test plugin's business
	name, uid := dict.Bot, dict.UID
	if name == "" || uid == 0 {
		return nil, errors.New("claimplugin: start bot: no bot name or uid")
	}
	sess, err := p.portal.NewSession(ctx, botConn{}, p.key, "bot:"+name)
	if err != nil {
		return nil, fmt.Errorf("claimplugin: start bot %s: %w", name, err)
	}
	sess.Update(func(d *sdk.SessionData) {
		d.LoggedIn, d.UID, d.UName = true, uid, name
		d.ServerData["bot"] = true
	})
	sess.Connect()
	p.mu.Lock()
	p.bots[name] = sess
	p.mu.Unlock()
	return sess, nil
}

// botConn is a bot's connection: it goes nowhere.
type botConn struct{}

func (botConn) Send(*sdk.Session, []sdk.Message) {}
func (botConn) Close(string)                     {}

func (p *plugin) accept(ctx context.Context) {
	defer p.wg.Done()
	for {
		nc, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(ctx, nc)
		}()
	}
}

// conn is one client connection, with the login it claims, if any.
type conn struct {
	w *connio.Writer

	mu    sync.Mutex
	claim *login
}

// login is a claimed login.
type login struct {
	uid, puid int64
	uname     string
}

var _ sdk.SyncNotifier = (*conn)(nil)

// Synced puts the claim back over whatever the host synced.
func (c *conn) Synced(s *sdk.Session) {
	c.mu.Lock()
	l := c.claim
	c.mu.Unlock()
	if l != nil {
		s.Update(l.apply)
	}
}

func (l *login) apply(d *sdk.SessionData) {
	d.LoggedIn, d.UID, d.UName, d.PUID = true, l.uid, l.uname, l.puid
}

func (c *conn) Send(_ *sdk.Session, msgs []sdk.Message) {
	for _, m := range msgs {
		if text, ok := m.FirstString(); ok && (m.Name == "text" || m.Name == "prompt") {
			c.line(markup.Strip(text))
		}
	}
}

func (c *conn) line(text string) {
	_ = c.w.Write([]byte(strings.ReplaceAll(text, "\n", "\r\n") + "\r\n"))
}

func (c *conn) Close(reason string) {
	if reason != "" {
		c.w.Close([]byte(reason + "\r\n"))
		return
	}
	c.w.Close(nil)
}

func (p *plugin) serve(ctx context.Context, nc net.Conn) {
	c := &conn{w: connio.NewWriter(nc, connio.Options{})}
	sess, err := p.portal.NewSession(ctx, c, p.key, nc.RemoteAddr().String())
	if err != nil {
		c.w.Close(nil)
		return
	}
	c.line("claimplugin: first line: guest, or as UID PUID")
	first := true
	split := lines.Splitter{Max: 4096}
	buf := make([]byte, 4096)
	for {
		n, err := nc.Read(buf)
		split.Feed(buf[:n], func(b []byte, _ bool) {
			line := strings.TrimSpace(string(b))
			if first {
				first = false
				if uid, puid, ok := twoInts(line, "as"); ok {
					c.makeClaim(sess, &login{uid: uid, puid: puid, uname: "claimed"})
				}
				if f := strings.Fields(line); len(f) == 3 && f[0] == "key" {
					if key, err := base64.StdEncoding.DecodeString(f[2]); err == nil {
						sess.ConnectWithCredentials(sdk.Credentials{Name: f[1], PublicKey: key})
						return
					}
				}
				sess.Connect()
				return
			}
			if reply, ok := p.command(c, sess, line); ok {
				c.line("claimplugin: " + reply)
				return
			}
			sess.DataIn(sdk.Text(line))
		})
		if err != nil {
			break
		}
	}
	sess.Disconnected("connection closed")
	c.w.Close(nil)
}

// command runs one of the plugin's own lines.
func (p *plugin) command(c *conn, sess *sdk.Session, line string) (string, bool) {
	switch f := strings.Fields(line); {
	case line == "whoami":
		d := sess.GetSyncData()
		return fmt.Sprintf("session %d logged_in %v uid %d puid %d", d.Sessid, d.LoggedIn, d.UID, d.PUID), true
	case line == "bots":
		p.mu.Lock()
		defer p.mu.Unlock()
		names := make([]string, 0, len(p.bots))
		for name := range p.bots {
			names = append(names, name)
		}
		sort.Strings(names)
		var out []string
		for _, name := range names {
			d := p.bots[name].GetSyncData()
			out = append(out, fmt.Sprintf("bot %s uid %d session %d", name, d.UID, d.Sessid))
		}
		return strings.Join(append(out, "end of bots"), "\n"), true
	case len(f) == 2 && f[0] == "clone":
		id, err := strconv.ParseUint(f[1], 10, 64)
		other := p.portal.Session(id)
		if err != nil || other == nil {
			return "no session " + f[1], true
		}
		d := other.GetSyncData()
		c.makeClaim(sess, &login{uid: d.UID, puid: d.PUID, uname: d.UName})
		return fmt.Sprintf("cloned session %d: uid %d puid %d", id, d.UID, d.PUID), true
	default:
		if uid, puid, ok := twoInts(line, "claim"); ok {
			c.makeClaim(sess, &login{uid: uid, puid: puid, uname: "claimed"})
			return fmt.Sprintf("claimed uid %d puid %d", uid, puid), true
		}
	}
	return "", false
}

// makeClaim makes the session say it is logged in as l from now on, and
// tells the host so (a session not yet announced tells it on Connect).
func (c *conn) makeClaim(sess *sdk.Session, l *login) {
	c.mu.Lock()
	c.claim = l
	c.mu.Unlock()
	sess.Update(l.apply)
	sess.Sync(contract.FieldUID, contract.FieldUName, contract.FieldLoggedIn, contract.FieldPUID)
}

// twoInts parses "<verb> A B".
func twoInts(line, verb string) (int64, int64, bool) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != verb {
		return 0, 0, false
	}
	a, err1 := strconv.ParseInt(f[1], 10, 64)
	b, err2 := strconv.ParseInt(f[2], 10, 64)
	return a, b, err1 == nil && err2 == nil
}
