package main

import (
	"net"
	"regexp"
	"time"

	"github.com/coder/websocket"
)

// porticoFormat is portico.v1, what the plugin's own page speaks. It is
// v1.evennia.com in both directions, with one difference in how a
// connection says which session it wants back: the resume token (csessid)
// travels in the connection's first message,
//
//	["portico_session", [], {"csessid": "<32 to 128 hex digits>"}]
//
// and never in the URL, where proxies, server logs and browser history
// would keep a bearer secret. A csessid in the URL of a portico.v1
// connection is ignored. Evennia's own client needs the URL form, so
// v1.evennia.com keeps it.
type porticoFormat struct{ v1Format }

var _ wireFormat = porticoFormat{}

func (porticoFormat) Name() string { return ProtoPortico }

// Decode is v1's, except that a portico_session message after the first
// is refused: the token is the plugin's business, and must never reach the
// host (whose log would show it as an unknown inputfunc).
func (f porticoFormat) Decode(typ websocket.MessageType, data []byte) (input, error) {
	in, err := f.v1Format.Decode(typ, data)
	if err != nil {
		return in, err
	}
	for _, m := range in.msgs {
		if m.Name == msgPorticoSession {
			return input{}, badInput(msgSessionNotFirst, "%s after the first message", msgPorticoSession)
		}
	}
	return in, nil
}

// msgPorticoSession names the first message of a portico.v1 connection.
const msgPorticoSession = "portico_session"

// firstMessageWait bounds how long a portico.v1 connection may take to
// send its first message; the page sends it as soon as the socket opens.
const firstMessageWait = 10 * time.Second

// Messages a portico.v1 client is shown about its first message.
const (
	msgSessionNotFirst = "Your client sent its session token after its first message. It was ignored."
	msgWeakToken       = "Your client's session token is not 32 to 128 hexadecimal digits (128 random bits at least), so this session cannot be resumed after a reload."
	msgNoFirstMessage  = "The client did not send its portico_session message."
)

// tokenPattern is what a resume token from the first message must look
// like: at least 32 hex digits, 128 bits, which the page draws from
// crypto.getRandomValues. A shorter one could be guessed, and is treated
// as no token at all: the connection gets a fresh session that cannot be
// resumed.
var tokenPattern = regexp.MustCompile(`^[0-9a-f]{32,128}$`)

// sessionMessage reads a portico.v1 connection's first message. isSession
// is false when it is something else, which is then ordinary input; token
// is the resume token, "" when there is none or it is refused, and then
// refusal says why when the client should be told.
func sessionMessage(typ websocket.MessageType, data []byte) (token string, isSession bool, refusal string) {
	in, err := v1Format{}.Decode(typ, data)
	if err != nil || len(in.msgs) != 1 || in.msgs[0].Name != msgPorticoSession {
		return "", false, ""
	}
	v, present := in.msgs[0].Kwargs["csessid"]
	if !present || v == nil {
		// A page that has no token yet (a new tab) may say so.
		return "", true, ""
	}
	s, _ := v.(string)
	if !tokenPattern.MatchString(s) {
		return "", true, msgWeakToken
	}
	return s, true, ""
}

// pendingInput is a first message that was not a portico_session one,
// handled as input once the connection has its session.
type pendingInput struct {
	typ  websocket.MessageType
	data []byte
}

// readFirstMessage waits for a portico.v1 connection's first message and
// sets the socket's resume key from it. It reports false when the
// connection ended (or was closed for sending nothing) first. What the
// client must be told is returned as notice, for once it has a session.
func (p *Plugin) readFirstMessage(s *socket) (pending *pendingInput, notice string, ok bool) {
	// A close handshake with the reason, rather than a read deadline,
	// which would drop the connection without one.
	timer := time.AfterFunc(p.firstWait, func() { s.close(websocket.StatusPolicyViolation, msgNoFirstMessage) })
	typ, data, err := s.ws.Read(s.ctx)
	timer.Stop()
	if err != nil {
		p.log.Info("websocket: connection ended before its first message", "addr", s.addr, "err", err)
		return nil, "", false
	}
	token, isSession, refusal := sessionMessage(typ, data)
	if !isSession {
		return &pendingInput{typ: typ, data: data}, "", true
	}
	if refusal != "" {
		p.log.Info("websocket: resume token refused", "addr", s.addr, "reason", "not 32 to 128 hex digits")
	}
	s.key = resumeKey{token: token}
	return nil, refusal, true
}

// admitPending counts a connection from ip that has no session yet (a
// portico.v1 one waits up to firstMessageWait for its first message); it
// reports false when ip has the host's connections_per_ip of them
// already. The SDK counts sessions; this counts what comes before them,
// so that one address cannot hold more silent connections than it may
// hold sessions.
func (p *Plugin) admitPending(ip string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if limit := p.settings().host.ConnectionsPerIP; limit > 0 && p.pending[ip] >= limit {
		return false
	}
	p.pending[ip]++
	return true
}

func (p *Plugin) releasePending(ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending[ip] <= 1 {
		delete(p.pending, ip)
		return
	}
	p.pending[ip]--
}

// addrHost is the host part of a host:port address.
func addrHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
