package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// conformanceSuite describes the websocket plugin to the SDK's conformance
// kit. The client speaks v1.evennia.com, Evennia's own webclient format,
// on /ws. resume_grace is 0 so that a connection's end is its session's
// end, as the kit's ClientHangsUp and ConnectionLimit checks expect (the
// kit's client sends no csessid anyway, and a clean close ends a session
// whatever the grace; 0 makes it so for a dropped connection too).
func conformanceSuite() plugintest.Suite {
	return plugintest.Suite{
		Config: func(addr string) map[string]any {
			return map[string]any{"listen": addr, "resume_grace": "0s"}
		},
		Dial:        dialWebsocket,
		ProtocolKey: ProtocolKey,
		BadConfig:   map[string]any{"listen": "no port here"},
	}
}

// TestConformance runs the kit against the plugin in this process, where
// the race detector sees it, and against portico-websocket launched through
// go-plugin, as the host launches it.
func TestConformance(t *testing.T) {
	s := conformanceSuite()
	s.New = func() sdk.Plugin { return &Plugin{} }
	plugintest.RunBoth(t, s, ".", "websocket")
}

// kitWaitLimit bounds the kit client's dial, writes and closing handshake.
const kitWaitLimit = 5 * time.Second

// kitClient is a plugintest.Client over a websocket in the v1.evennia.com
// format: a line goes out as ["text",["line"],{}], and Expect searches the
// string arguments of every message received (["text",["<html>"],{...}]),
// with HTML entities decoded, as the page would show them.
type kitClient struct {
	ws *websocket.Conn

	mu sync.Mutex
	// buf is the decoded text received, one message's strings after
	// another, each followed by a newline.
	buf string
	// seen is how much of buf Expect has consumed.
	seen int
	// end is why the reader stopped.
	end error
	// update is signalled whenever a message arrives.
	update chan struct{}
	// closed is closed when the reader has stopped (the plugin or Close
	// ended the connection).
	closed chan struct{}
}

// dialWebsocket is the suite's Dialer.
func dialWebsocket(addr string) (plugintest.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kitWaitLimit)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{Subprotocols: []string{ProtoV1}})
	if err != nil {
		return nil, fmt.Errorf("websocket: dial %s: %w", addr, err)
	}
	if got := ws.Subprotocol(); got != ProtoV1 {
		_ = ws.CloseNow()
		return nil, fmt.Errorf("websocket: dial %s: server chose subprotocol %q, want %q", addr, got, ProtoV1)
	}
	ws.SetReadLimit(1 << 20)
	c := &kitClient{ws: ws, update: make(chan struct{}, 1), closed: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *kitClient) read() {
	defer close(c.closed)
	for {
		typ, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.end = err
			c.mu.Unlock()
			return
		}
		text := string(b)
		if typ == websocket.MessageText {
			text = decodeV1(b)
		}
		c.mu.Lock()
		c.buf += text
		c.mu.Unlock()
		select {
		case c.update <- struct{}{}:
		default:
		}
	}
}

// decodeV1 returns the string arguments of a v1 message ["name", [args],
// {kwargs}], HTML entities decoded, each followed by a newline; a message
// that is not of that shape is returned as it is.
func decodeV1(b []byte) string {
	var msg []json.RawMessage
	if err := json.Unmarshal(b, &msg); err != nil || len(msg) < 2 {
		return string(b) + "\n"
	}
	var args []any
	if err := json.Unmarshal(msg[1], &args); err != nil {
		return string(b) + "\n"
	}
	var out strings.Builder
	for _, a := range args {
		if s, ok := a.(string); ok {
			out.WriteString(html.UnescapeString(s))
			out.WriteByte('\n')
		}
	}
	return out.String()
}

// Send implements plugintest.Client.
func (c *kitClient) Send(line string) error {
	b, err := json.Marshal([]any{"text", []any{line}, map[string]any{}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), kitWaitLimit)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("websocket: send %q: %w", line, err)
	}
	return nil
}

// match consumes the received text up to the end of substr, if it is there.
func (c *kitClient) match(substr string) (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rest := c.buf[c.seen:]
	if i := strings.Index(rest, substr); i >= 0 {
		c.seen += i + len(substr)
		return true, ""
	}
	return false, rest
}

// Expect implements plugintest.Client.
func (c *kitClient) Expect(substr string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		ok, rest := c.match(substr)
		if ok {
			return nil
		}
		select {
		case <-c.update:
		case <-c.closed:
			// The last messages may have arrived with the close.
			if ok, rest := c.match(substr); !ok {
				c.mu.Lock()
				end := c.end
				c.mu.Unlock()
				return fmt.Errorf("websocket: connection closed (%v) before %q arrived; unread output %q", end, substr, rest)
			}
			return nil
		case <-deadline:
			return fmt.Errorf("websocket: %q did not arrive within %v; unread output %q", substr, timeout, rest)
		}
	}
}

// ExpectClosed implements plugintest.Client.
func (c *kitClient) ExpectClosed(timeout time.Duration) error {
	select {
	case <-c.closed:
		return nil
	case <-time.After(timeout):
		return errors.New("websocket: the plugin did not close the connection")
	}
}

// Close implements plugintest.Client: a clean close (1000), as a player
// closing the page's tab, then a wait for the reader to stop.
func (c *kitClient) Close() error {
	err := c.ws.Close(websocket.StatusNormalClosure, "")
	select {
	case <-c.closed:
	case <-time.After(kitWaitLimit):
		_ = c.ws.CloseNow()
		return errors.New("websocket: the reader did not stop after Close")
	}
	// The connection may have ended already (the plugin closed it).
	if err != nil && !errors.Is(err, net.ErrClosed) && websocket.CloseStatus(err) == -1 {
		return fmt.Errorf("websocket: close: %w", err)
	}
	return nil
}
