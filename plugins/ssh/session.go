package main

import (
	"errors"
	"io"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/connio"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/lines"
	gossh "golang.org/x/crypto/ssh"
)

// ProtocolKey is the protocol_key of SSH sessions (Evennia's).
const ProtocolKey = "ssh"

// readBufferSize is the per-session read buffer: small, since typing is.
const readBufferSize = 4096

// Messages shown by the plugin itself.
const (
	msgNotReady     = "The server is not ready; please try again in a moment."
	msgShuttingDown = "The server is shutting down."
)

// handle is the gliderlabs session handler: it runs for each shell or
// command a client opens, for as long as it lasts. When it returns,
// gliderlabs closes the channel, so it waits for the output to be written.
func (p *Plugin) handle(s gliderssh.Session) {
	ctx := s.Context()
	req := p.takeRequest(s)
	c := p.newConn(s, req)
	if req.sizes != nil {
		go c.watchWindow(req.sizes) // at once: see watchWindow
	}
	if g := guardOf(ctx); g != nil {
		g.sessionStarted(ctx)
	}
	if !p.track(c) {
		c.fail(msgShuttingDown)
		return
	}
	defer p.untrack(c)
	defer c.killTimer.Stop()

	if c.mode == modeExec {
		st, refusal := startExec(req.command, c.maxLine)
		if refusal != "" {
			c.fail(refusal)
			return
		}
		c.mu.Lock()
		c.exec = st
		c.mu.Unlock()
	}

	// Until the session exists, an end is a failure: a connection limit
	// may refuse it inside NewSession (telling the client and closing the
	// conn itself).
	c.ch.exit.Store(exitFailed)
	g := guardOf(ctx)
	sess, err := p.portal.NewSession(ctx, c, ProtocolKey, s.RemoteAddr().String())
	if errors.Is(err, sdk.ErrRefused) {
		p.log.Debug("ssh: connection refused", "addr", s.RemoteAddr().String(), "err", err)
		c.wait()
		if g != nil {
			g.refused()
		}
		return
	}
	if err != nil {
		p.log.Warn("ssh: no session for connection", "err", err)
		c.fail(msgNotReady)
		return
	}
	if g != nil {
		g.admit()
		defer g.dismiss()
	}
	c.ch.exit.Store(exitOK)
	c.announce(sess, req)

	if c.mode != modeExec {
		c.readInput(ctx)
	}
	c.wait()
	// Whatever ended the session, the portal and the host let go of it.
	sess.Disconnected("connection closed")
	c.Close("")
}

// newConn makes the conn of session s, with its output queue.
func (p *Plugin) newConn(s gliderssh.Session, req sessionRequest) *conn {
	c := &conn{p: p, s: s, pty: req.isPty, maxLine: p.lineMax(), win: req.pty.Window}
	switch {
	case req.command != "":
		c.mode = modeExec
	case req.isPty:
		c.mode = modeTerminal
		// Before the window watcher starts: a resize reaches the editor.
		w, _ := screenSize(req.pty.Window)
		c.ed = newEditor(w, c.maxLine)
	default:
		c.mode = modeLines
	}
	sc, _ := s.Context().Value(gliderssh.ContextKeyConn).(*gossh.ServerConn)
	kill := func() {
		if sc != nil {
			_ = sc.Close()
		} else {
			_ = s.Close()
		}
	}
	// Armed when the channel is closed: the client has a while to answer
	// the close, and one that does not is cut off, so that no session
	// outlives its end.
	c.killTimer = time.AfterFunc(time.Hour, kill)
	c.killTimer.Stop()
	c.ch = &chanConn{s: s, kill: kill, onClose: func() { c.killTimer.Reset(lingerAfterLast) }}
	c.out = connio.NewWriter(c.ch, connio.Options{OnError: func(err error) {
		p.log.Debug("ssh: write", "addr", s.RemoteAddr().String(), "err", err)
	}})
	return c
}

// announce gives the new session its flags and tells the host of it, with
// the credentials the client proved (the host logs it in when they are
// right). A command's first barrier follows at once: the host holds it
// until the login is decided.
func (c *conn) announce(sess *sdk.Session, req sessionRequest) {
	ctx := c.s.Context()
	flags := plainFlags(ctx.ClientVersion())
	if req.isPty {
		flags = ptyFlags(req.pty, req.env, ctx.ClientVersion())
	}
	var perms *gossh.Permissions
	if sc, ok := ctx.Value(gliderssh.ContextKeyConn).(*gossh.ServerConn); ok {
		perms = sc.Permissions
	}
	creds, hasCreds := credentials(perms, c.s.User(), c.s.PublicKey())

	c.mu.Lock()
	c.sess = sess
	// The window may have changed since the pty request: the latest size
	// goes with Connect, later ones in syncs (resize sees c.sess).
	if f := sizeFlags(c.win); f != nil {
		for k, v := range f {
			flags[k] = v
		}
	}
	sess.Update(func(d *sdk.SessionData) {
		d.ProtocolFlags.SetAll(flags)
		if c.mode == modeExec {
			// A command is no second login: the host keeps the
			// account's other sessions (multisession mode 0).
			d.SetServerData(contract.ServerDataOneShot, true)
		}
	})
	if c.mode == modeTerminal && flags[flagTerm] != "dumb" {
		c.writeLocked([]byte(seqPasteOn))
	}
	if c.mode == modeExec {
		c.exec.timer = time.AfterFunc(time.Duration(c.p.conf().ExecTimeout), c.execTimedOut)
	}
	c.mu.Unlock()

	if hasCreds {
		sess.ConnectWithCredentials(creds)
	} else {
		sess.Connect()
	}
	if c.mode == modeExec {
		sess.DataIn(barrier())
	}
}

// sessionRequest is what a session asked for before its shell or command
// started. gliderlabs keeps it in fields that its request loop goroutine
// writes (a window change updates the pty's size) without a lock, so it
// is read in that goroutine, in the SessionRequestCallback, and handed to
// the handler; the handler never calls Session.Pty.
type sessionRequest struct {
	pty     gliderssh.Pty
	sizes   <-chan gliderssh.Window
	isPty   bool
	env     []string
	command string
}

// sessionRequestCallback is gliderlabs' SessionRequestCallback: it admits
// shells and commands (no subsystems: no sftp) and records what the
// session asked for.
func (p *Plugin) sessionRequestCallback(s gliderssh.Session, requestType string) bool {
	if requestType != "shell" && requestType != "exec" {
		return false
	}
	pty, sizes, isPty := s.Pty()
	req := sessionRequest{pty: pty, sizes: sizes, isPty: isPty, env: s.Environ(), command: s.RawCommand()}
	p.mu.Lock()
	p.requests[s] = req
	p.mu.Unlock()
	return true
}

// takeRequest returns what session s asked for.
func (p *Plugin) takeRequest(s gliderssh.Session) sessionRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	req := p.requests[s]
	delete(p.requests, s)
	return req
}

// readInput reads the client's input until it ends.
func (c *conn) readInput(ctx gliderssh.Context) {
	var split lines.Splitter
	split.Max = lineBytes(c.maxLine)
	buf := make([]byte, readBufferSize)
	for {
		n, err := c.s.Read(buf)
		if n > 0 {
			if c.mode == modeTerminal {
				c.typed(buf[:n])
			} else {
				split.Feed(buf[:n], c.line)
			}
		}
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) && ctx.Err() == nil {
			// The client's input ended (a pipe ran dry, or `ssh -tt host
			// </dev/null`); its output may still be coming.
			c.inputEnded()
			return
		}
		c.sess.Disconnected("connection closed")
		c.Close("")
		return
	}
}

// fail ends a session that never reached the host: msg, exit status 1.
func (c *conn) fail(msg string) {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.ch.exit.Store(exitFailed)
	out := msg + "\n"
	if c.pty {
		out = string(appendCRLF(nil, out))
	}
	c.out.Close([]byte(out))
	c.wait()
}

// wait waits until the output is written and the channel closed, or the
// connection is gone.
func (c *conn) wait() {
	select {
	case <-c.out.Done():
	case <-c.s.Context().Done():
	}
}
