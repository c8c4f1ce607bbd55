// Command stallplugin is a broken protocol plugin for the end-to-end
// tests, built only on the public SDK: a plain TCP line protocol (as
// examples/echo-protocol) whose output stalls on demand. Once a client
// sends the line "stall" (the plugin's own, never passed to the host), the
// next output the host sends to any of its sessions blocks in Conn.Send
// for good. Conn.Send runs on the SDK's link reader, so from then on the
// plugin reads nothing more from its data link: it neither answers the
// host's pings nor takes its output, while its clients' input still
// reaches the host. A host must not be held by it.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/connio"
	"github.com/portico-mud/portico/sdk/lines"
	"github.com/portico-mud/portico/sdk/markup"
)

func main() { sdk.Serve(&plugin{stop: make(chan struct{})}) }

type config struct {
	Listen string `json:"listen"`
}

type plugin struct {
	portal  *sdk.Portal
	ln      net.Listener
	stalled atomic.Bool
	// stop is closed at Shutdown: a stalled Send waits for it.
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

func (p *plugin) Configure(ctx context.Context, cfg sdk.Config, portal *sdk.Portal) (sdk.Info, error) {
	var c config
	if err := cfg.Decode(&c); err != nil {
		return sdk.Info{}, fmt.Errorf("stall: %w", err)
	}
	ln, err := sdk.Listen("listen", c.Listen)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("stall: %w", err)
	}
	p.portal, p.ln = portal, ln
	p.wg.Add(1)
	go p.accept(ctx)
	return sdk.Info{ProtocolKey: "stall", Listeners: []sdk.Listener{sdk.ListenerOf("stall", ln)}}, nil
}

func (p *plugin) Shutdown(context.Context) error {
	p.stopOnce.Do(func() { close(p.stop) })
	p.ln.Close()
	return nil
}

func (p *plugin) accept(ctx context.Context) {
	defer p.wg.Done()
	for {
		nc, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(ctx, nc)
		}()
	}
}

type conn struct {
	p *plugin
	w *connio.Writer
}

// Send writes text as lines, unless the plugin is stalled: then it blocks
// the link reader until Shutdown.
func (c *conn) Send(_ *sdk.Session, msgs []sdk.Message) {
	if c.p.stalled.Load() {
		<-c.p.stop
		return
	}
	for _, m := range msgs {
		if text, ok := m.FirstString(); ok && m.Name == "text" {
			_ = c.w.Write([]byte(markup.Strip(text) + "\r\n"))
		}
	}
}

func (c *conn) Close(reason string) { c.w.Close([]byte(reason + "\r\n")) }

func (p *plugin) serve(ctx context.Context, nc net.Conn) {
	c := &conn{p: p, w: connio.NewWriter(nc, connio.Options{})}
	sess, err := p.portal.NewSession(ctx, c, "stall", nc.RemoteAddr().String())
	if err != nil {
		c.w.Close(nil)
		return
	}
	sess.Connect()
	var split lines.Splitter
	buf := make([]byte, 4096)
	for {
		n, err := nc.Read(buf)
		split.Feed(buf[:n], func(line []byte, _ bool) {
			if string(line) == "stall" {
				p.stalled.Store(true)
				_ = c.w.Write([]byte("stallplugin: stalled\r\n"))
				return
			}
			sess.DataIn(sdk.Text(string(line)))
		})
		if err != nil {
			break
		}
	}
	sess.Disconnected("connection closed")
	c.w.Close(nil)
}
