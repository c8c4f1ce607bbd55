// Command portico-echo is an example Portico protocol plugin, built outside
// the Portico module against its SDK: a plain TCP line protocol. Each line a
// client sends is one text input; each text the game sends is written back
// as lines, without colour. Enable it in config.yaml:
//
//	plugins:
//	  echo:
//	    enabled: true
//	    path: examples/echo-protocol/portico-echo
//	    config:
//	      listen: "127.0.0.1:4040"
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/connio"
	"github.com/portico-mud/portico/sdk/lines"
	"github.com/portico-mud/portico/sdk/markup"
)

func main() { sdk.Serve(&Plugin{}) }

// Config is the plugin's block in config.yaml (plugins.echo.config).
type Config struct {
	// Listen is the TCP address clients connect to.
	Listen string `json:"listen"`
}

// Plugin is the echo protocol.
type Plugin struct {
	portal  *sdk.Portal
	ln      net.Listener
	maxLine int
	wg      sync.WaitGroup
}

var (
	_ sdk.Plugin    = (*Plugin)(nil)
	_ sdk.Validator = (*Plugin)(nil)
)

// load decodes the config block over the defaults; an unknown key or a
// bad value is an error naming the key.
func load(cfg sdk.Config) (Config, error) {
	c := Config{Listen: "127.0.0.1:4040"}
	return c, cfg.Decode(&c)
}

// Validate checks the block without listening: the host calls it before
// it starts the plugin and before it applies a live edit, so that a typo
// is reported and never stops a running plugin.
func (p *Plugin) Validate(_ context.Context, cfg sdk.Config) error {
	c, err := load(cfg)
	if err != nil {
		return err
	}
	return cfg.CheckListen("listen", c.Listen)
}

// Configure reads the config block and starts listening.
func (p *Plugin) Configure(ctx context.Context, cfg sdk.Config, portal *sdk.Portal) (sdk.Info, error) {
	c, err := load(cfg)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("echo: %w", err)
	}
	ln, err := sdk.Listen("listen", c.Listen)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("echo: %w", err)
	}
	p.portal, p.ln, p.maxLine = portal, ln, cfg.Host.MaxInputLength
	portal.Log().Info("echo: listening", "addr", ln.Addr().String())
	p.wg.Add(1)
	go p.accept(ctx)
	return sdk.Info{ProtocolKey: "echo", Listeners: []sdk.Listener{sdk.ListenerOf("echo", ln)}}, nil
}

// Shutdown stops listening and waits for the connections' goroutines; the
// SDK has already closed every session.
func (p *Plugin) Shutdown(ctx context.Context) error {
	p.ln.Close()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("echo: shutdown: %w", ctx.Err())
	}
}

func (p *Plugin) accept(ctx context.Context) {
	defer p.wg.Done()
	for {
		nc, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// A transient error (out of file descriptors): back off.
			p.portal.Log().Warn("echo: accept", "err", err)
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

// conn is one client connection; it is the session's sdk.Conn.
type conn struct{ w *connio.Writer }

// Send writes text and prompts as plain lines. The protocol has no
// out-of-band channel, so other messages are dropped.
func (c *conn) Send(_ *sdk.Session, msgs []sdk.Message) {
	for _, m := range msgs {
		text, ok := m.FirstString()
		if !ok || (m.Name != "text" && m.Name != "prompt") {
			continue
		}
		text = strings.ReplaceAll(markup.Strip(text), "\n", "\r\n")
		_ = c.w.Write([]byte(text + "\r\n")) // a failed write closes the connection
	}
}

// Close shows the reason, then hangs up once everything queued is written.
func (c *conn) Close(reason string) {
	if reason != "" {
		c.w.Close([]byte(reason + "\r\n"))
		return
	}
	c.w.Close(nil)
}

// serve reads one client's lines until it hangs up.
func (p *Plugin) serve(ctx context.Context, nc net.Conn) {
	c := &conn{w: connio.NewWriter(nc, connio.Options{})}
	// NewSession may queue the client for its turn (the connection rate):
	// the watcher ends the wait if the client hangs up meanwhile, so that
	// it gives its place up, and keeps what it typed.
	watch := connio.Watch(ctx, nc, 4096)
	sess, err := p.portal.NewSession(watch.Context(), c, "echo", nc.RemoteAddr().String())
	early, gone := watch.Stop()
	if err != nil || gone != nil {
		if err == nil {
			sess.Disconnected("connection closed") // it left as its turn came
		}
		// A connection limit has told the client why and closed c; closing
		// again is a no-op that keeps the message queued before it.
		c.w.Close(nil)
		return
	}
	sess.Connect()
	// The splitter's bound is in bytes; TextInput applies the host's
	// limit in characters (a character is at most 4 bytes).
	split := lines.Splitter{Max: 4 * p.maxLine}
	handle := func(line []byte, tooLong bool) {
		text, refusal := sdk.TextInput(line, p.maxLine)
		if tooLong {
			refusal = sdk.MsgTooLong
		}
		if refusal != "" {
			c.Send(sess, []sdk.Message{sdk.Text(refusal)})
			return
		}
		sess.DataIn(sdk.Text(text))
	}
	split.Feed(early, handle)
	buf := make([]byte, 4096)
	for {
		n, err := nc.Read(buf)
		split.Feed(buf[:n], handle)
		if err != nil {
			break
		}
	}
	// The client hung up, or the session was closed and the socket with
	// it; in the second case this is a no-op.
	sess.Disconnected("connection closed")
	c.w.Close(nil)
}
