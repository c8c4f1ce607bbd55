package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
)

// routes serves the webclient page at /, its files under /static/, and
// the websocket at /ws; an upgrade request at / is a websocket too, since
// Evennia's own client connects there.
func (p *Plugin) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if isUpgrade(r) {
			p.serveWS(w, r)
			return
		}
		p.settings().site.servePage(w, r)
	})
	mux.HandleFunc("GET /ws", p.serveWS)
	mux.HandleFunc("GET /static/{name}", func(w http.ResponseWriter, r *http.Request) { p.settings().site.serveStatic(w, r) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if over, _ := r.Context().Value(overLimitKey{}).(bool); over {
			p.refuseOverLimit(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// refuseOverLimit answers a request on a connection over its address's
// connections_per_ip: a websocket is accepted only to be told why, in its
// own format, and closed with 1008, as a client the SDK refuses is; any
// other request gets 503 with the reason. The listener closes the
// connection shortly whatever happens (sdk.LimitOptions.TellWait).
func (p *Plugin) refuseOverLimit(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		w.Header().Set("Connection", "close")
		http.Error(w, sdk.MsgTooManyConnections, http.StatusServiceUnavailable)
		return
	}
	set := p.settings()
	ws, err := p.accept(w, r, set)
	if err != nil {
		return // accept has answered the request with the reason.
	}
	// Debug, as the listener's own line: a flood must not flood the log.
	p.log.Debug("websocket: connection refused: too many connections from its address; telling it", "addr", clientAddress(r, set.proxies))
	s := newSocket(p.ctx, ws, clientAddress(r, set.proxies), query{})
	defer s.cancel()
	defer s.kill()
	for _, f := range s.format.Encode(sdk.Text(sdk.MsgTooManyConnections), renderFlags{}) {
		if s.write(f) != nil {
			return
		}
	}
	s.close(websocket.StatusPolicyViolation, sdk.MsgTooManyConnections)
}

// accept checks the page's origin (checkOrigin: the library's own check
// would refuse the page's host on another port) and accepts the websocket,
// or answers the request with the reason and returns the error.
func (p *Plugin) accept(w http.ResponseWriter, r *http.Request, set *settings) (*websocket.Conn, error) {
	if err := checkOrigin(r.Header.Get("Origin"), r.Host, set.cfg.AllowedOrigins); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return nil, err
	}
	return websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: set.protos,
		// Checked above.
		InsecureSkipVerify: true,
	})
}

// isUpgrade reports whether r asks for a websocket.
func isUpgrade(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}

// serveWS accepts a websocket and serves it until it closes: the handler's
// goroutine is the connection's reader.
func (p *Plugin) serveWS(w http.ResponseWriter, r *http.Request) {
	// Counted from before the handshake, so that a client that sees its
	// handshake answered has been counted.
	set := p.settings()
	network := sdk.ClientNetwork(clientAddress(r, set.proxies))
	admitted := p.pending.Admit(network)
	release := sync.OnceFunc(func() {
		if admitted {
			p.pending.Release(network)
		}
	})
	defer release()
	ws, err := p.accept(w, r, set)
	if err != nil {
		// accept has answered the request with the reason.
		p.log.Info("websocket: handshake refused", "addr", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	ws.SetReadLimit(int64(set.maxMsg))
	s := newSocket(p.ctx, ws, clientAddress(r, set.proxies), parseQuery(r.URL.RawQuery))
	if !p.track(s) {
		s.close(websocket.StatusGoingAway, "The server is shutting down.")
		s.cancel()
		return
	}
	// Run last to first: the connection is gone before Shutdown hears
	// that its handler is.
	defer p.untrack(s)
	defer s.cancel()
	defer s.kill()
	if !admitted {
		p.log.Info("websocket: connection refused: too many without a session yet from its address", "addr", s.addr)
		s.close(websocket.StatusPolicyViolation, sdk.MsgTooManyConnections)
		if p.connectionEnded != nil {
			p.connectionEnded(-1)
		}
		return
	}
	var pending *pendingInput
	var notice string
	if _, ok := s.format.(porticoFormat); ok {
		// The resume token comes first, before there is a session.
		var ok bool
		if pending, notice, ok = p.readFirstMessage(s); !ok {
			if p.connectionEnded != nil {
				p.connectionEnded(-1)
			}
			return
		}
	}
	// next delivers a read started while the connection waited for its
	// session: it comes before any later Read, and ends (the socket is
	// killed) before the handler returns.
	var next <-chan readResult
	defer func() {
		if next != nil {
			s.kill()
			<-next
		}
	}()
	s.sessionMade = release
	op := p.openWatched(s)
	next = op.next
	release()
	c, resumed, err := op.c, op.resumed, op.err
	if err != nil && op.left() {
		// It went away while it waited: there is no one to tell, and
		// its place in the queue has been given up.
		code := websocket.CloseStatus(op.gone)
		if op.closeAsked {
			code = websocket.StatusNormalClosure
			s.close(websocket.StatusNormalClosure, "")
		}
		p.log.Debug("websocket: client left while waiting to connect", "addr", s.addr, "code", int(code), "err", op.gone)
		if p.connectionEnded != nil {
			p.connectionEnded(code)
		}
		return
	}
	if msg, ok := sdk.RefusalMessage(err); ok {
		// A connection limit: the client is told why, in its own format,
		// before the close (its session had no socket to show it on).
		p.log.Info("websocket: connection refused by a limit", "addr", s.addr, "reason", msg)
		for _, f := range s.format.Encode(sdk.Text(msg), renderFlags{}) {
			_ = s.write(f)
		}
		s.close(websocket.StatusPolicyViolation, msg)
		return
	}
	if err != nil {
		p.log.Warn("websocket: no session for connection", "addr", s.addr, "err", err)
		s.close(websocket.StatusTryAgainLater, msgNotReady)
		return
	}
	p.log.Info("websocket: connected", "sessid", c.sess.ID(), "addr", s.addr, "format", s.format.Name(),
		"resumed", resumed, "browser", s.q.browser, "cuid", s.q.cuid)
	s.startPing(time.Duration(set.cfg.PingInterval), time.Duration(set.cfg.PingTimeout))
	defer s.stopPing()
	if notice != "" {
		c.notice(notice)
	}
	if pending != nil {
		c.handleInput(s, pending.typ, pending.data)
	}
	for _, r := range op.early {
		c.handleInput(s, r.typ, r.data)
	}
	if op.dropped > 0 {
		c.notice(fmt.Sprintf(msgEarlyDropped, op.dropped))
	}
	for {
		var typ websocket.MessageType
		var data []byte
		var err error
		if next != nil {
			r := <-next
			next = nil
			typ, data, err = r.typ, r.data, r.err
		} else {
			typ, data, err = ws.Read(s.ctx)
		}
		if err != nil {
			code := websocket.CloseStatus(err)
			reason := reasonLost
			switch {
			case isClean(code):
				reason = reasonClientClosed
			case errors.Is(err, websocket.ErrMessageTooBig):
				p.log.Info("websocket: message too big; connection closed", "sessid", c.sess.ID(),
					"addr", s.addr, "limit", set.maxMsg)
			}
			p.log.Info("websocket: connection ended", "sessid", c.sess.ID(), "addr", s.addr, "code", int(code), "err", err)
			c.detach(s, isClean(code), reason)
			if p.connectionEnded != nil {
				p.connectionEnded(code)
			}
			return
		}
		c.handleInput(s, typ, data)
	}
}
