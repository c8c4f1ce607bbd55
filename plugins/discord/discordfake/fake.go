// Package discordfake is a fake Discord for tests: the REST endpoints the
// Discord bridge plugin uses and a gateway websocket (API version 10), on
// 127.0.0.1. It speaks enough of Discord's protocol to exercise a bot
// fully: HELLO, IDENTIFY and READY, heartbeats and their ACKs,
// GUILD_CREATE, MESSAGE_CREATE dispatches with sequence numbers, RESUME
// (replaying what the bot missed) and RESUMED, INVALID_SESSION, closes
// with Discord's codes (4004 for a refused token), and HTTP 429 with
// retry_after on sending a message. It records what the bot did (each
// IDENTIFY, RESUME, heartbeat and message sent, with its
// allowed_mentions) for tests to check, and lets tests disturb it (drop
// the connection, invalidate the session, rate-limit the next sends).
//
// It is test support, imported by the plugin's tests and the host's
// end-to-end tests; nothing in a binary uses it. It is not Discord: it
// checks only what the tests need, and trusts its one bot user.
package discordfake

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Gateway opcodes (Discord's).
const (
	opDispatch       = 0
	opHeartbeat      = 1
	opIdentify       = 2
	opResume         = 6
	opReconnect      = 7
	opInvalidSession = 9
	opHello          = 10
	opHeartbeatACK   = 11
)

// Close codes the fake uses (Discord's).
const (
	// CloseAuthenticationFailed is sent for a token it does not know.
	CloseAuthenticationFailed = 4004
	// CloseDisallowedIntents is sent for an intent not switched on.
	CloseDisallowedIntents = 4014
)

// IntentMessageContent is the privileged MESSAGE_CONTENT intent's bit.
const IntentMessageContent = 1 << 15

// Options shape a fake Discord.
type Options struct {
	// Token is the bot token it accepts (without "Bot ").
	Token string
	// HeartbeatInterval is HELLO's heartbeat_interval; default 1 s.
	HeartbeatInterval time.Duration
	// GuildID and GuildName are the one guild the bot is in; default
	// 800000000000000001 "Portico Test".
	GuildID, GuildName string
	// Channels are the guild's text channels, id to name; default
	// 1234567890123456789 "general".
	Channels map[string]string
	// DisallowMessageContent closes an IDENTIFY asking for the
	// MESSAGE_CONTENT intent with 4014, as Discord does when the intent
	// is not switched on for the bot.
	DisallowMessageContent bool
}

// User is a Discord user as the fake sends it.
type User struct {
	ID         string `json:"id"`
	Username   string `json:"username"`
	GlobalName string `json:"global_name,omitempty"`
	Bot        bool   `json:"bot,omitempty"`
}

// BotUser is the bot's own user, as READY names it.
var BotUser = User{ID: "100000000000000001", Username: "porticobot", Bot: true}

// Identify is one IDENTIFY the fake received.
type Identify struct {
	// TokenOK reports whether it carried the fake's token.
	TokenOK bool
	// Intents are the intents it asked for.
	Intents int
	// Query is the gateway URL's query (v=10&encoding=json).
	Query url.Values
	// At is when it arrived.
	At time.Time
}

// Post is one message the bot sent (POST /channels/{id}/messages).
type Post struct {
	ChannelID string
	Content   string
	// AllowedMentions is the request's allowed_mentions as sent, nil when
	// it had none.
	AllowedMentions json.RawMessage
	At              time.Time
}

// Server is a running fake Discord.
type Server struct {
	o    Options
	ln   net.Listener
	http *http.Server
	base string

	mu         sync.Mutex
	changed    chan struct{}
	conns      map[*gwConn]bool
	sessions   map[string]*gwSession
	dms        map[string]bool
	nextID     uint64
	identifies []Identify
	resumes    int
	heartbeats int
	noACK      bool
	posts      []Post
	limited    []time.Time
	limitNext  int
	retryAfter time.Duration
	closed     bool
	wg         sync.WaitGroup
}

// gwSession is a gateway session: its events, kept so that a RESUME can
// replay what was missed.
type gwSession struct {
	id    string
	seq   int64
	log   [][]byte // log[i] is the dispatch with seq i+1
	conn  *gwConn
	valid bool
}

// gwConn is one gateway websocket connection.
type gwConn struct {
	ws    *websocket.Conn
	query url.Values
	sess  *gwSession

	mu   sync.Mutex
	out  [][]byte
	wake chan struct{}
	done chan struct{}
}

// Start runs a fake Discord on 127.0.0.1 (a free port).
func Start(o Options) (*Server, error) {
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = time.Second
	}
	if o.GuildID == "" {
		o.GuildID, o.GuildName = "800000000000000001", "Portico Test"
	}
	if o.Channels == nil {
		o.Channels = map[string]string{"1234567890123456789": "general"}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("discordfake: %w", err)
	}
	s := &Server{o: o, ln: ln, base: "http://" + ln.Addr().String(), changed: make(chan struct{}),
		conns: map[*gwConn]bool{}, sessions: map[string]*gwSession{}, dms: map[string]bool{}, nextID: 1300000000000000000}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v10/gateway", s.gateway)
	mux.HandleFunc("GET /api/v10/gateway/bot", s.gateway)
	mux.HandleFunc("GET /api/v10/users/@me", s.authed(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, BotUser) }))
	mux.HandleFunc("GET /api/v10/channels/{id}", s.authed(s.channel))
	mux.HandleFunc("GET /api/v10/guilds/{id}", s.authed(s.guild))
	mux.HandleFunc("POST /api/v10/channels/{id}/messages", s.authed(s.postMessage))
	mux.HandleFunc("/gateway/", s.gatewaySocket)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); _ = s.http.Serve(ln) }()
	return s, nil
}

// APIURL is the REST API's base, for the plugin's api_url.
func (s *Server) APIURL() string { return s.base + "/api/v10/" }

// Close stops the fake and ends every connection.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*gwConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.ws.CloseNow()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx)
	s.wg.Wait()
}

// noteLocked wakes every Wait. Called with mu held.
func (s *Server) noteLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Wait calls cond whenever the fake records something, until it holds or
// ctx ends; cond may call the fake's accessors.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Identifies returns every IDENTIFY received, in order.
func (s *Server) Identifies() []Identify {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Identify(nil), s.identifies...)
}

// Resumes counts the RESUMEs answered with RESUMED.
func (s *Server) Resumes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resumes
}

// Heartbeats counts the heartbeats received.
func (s *Server) Heartbeats() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heartbeats
}

// Posts returns every message the bot sent, in order.
func (s *Server) Posts() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Post(nil), s.posts...)
}

// RateLimited returns when each 429 was answered.
func (s *Server) RateLimited() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.limited...)
}

// Connected counts the gateway connections that have a session (READY
// or RESUMED sent).
func (s *Server) Connected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.sess != nil {
			n++
		}
	}
	return n
}

// RateLimit answers the next n message posts with HTTP 429 and
// retry_after (and a Retry-After header).
func (s *Server) RateLimit(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limitNext, s.retryAfter = n, retryAfter
}

// StopACKs stops (or restarts) acknowledging heartbeats, as a gateway
// that went silent: the bot must notice and reconnect.
func (s *Server) StopACKs(stop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noACK = stop
}

// DropConnections ends every gateway connection at once, without a close
// frame, as a network failure would. The sessions stay resumable; what
// is dispatched meanwhile is replayed on RESUME.
func (s *Server) DropConnections() {
	for _, c := range s.liveConns() {
		_ = c.ws.CloseNow()
	}
}

// InvalidateSessions sends INVALID_SESSION (d=false) on every gateway
// connection: its session cannot be resumed, and the bot must IDENTIFY
// again.
func (s *Server) InvalidateSessions() {
	s.mu.Lock()
	for c := range s.conns {
		if c.sess != nil {
			c.sess.valid = false
			c.sess.conn = nil
			c.sess = nil
			c.send(mustJSON(map[string]any{"op": opInvalidSession, "d": false}))
		}
	}
	s.noteLocked()
	s.mu.Unlock()
}

func (s *Server) liveConns() []*gwConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*gwConn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// Say dispatches a MESSAGE_CREATE from author (with nick, "" for none)
// in guild channel channelID to every valid session, and returns the
// message's id. A session without a connection gets it on RESUME.
func (s *Server) Say(channelID string, author User, nick, content string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newIDLocked()
	msg := message(id, channelID, s.o.GuildID, author, content)
	if nick != "" {
		msg["member"] = map[string]any{"nick": nick}
	}
	s.dispatchLocked("MESSAGE_CREATE", msg)
	return id
}

// DirectMessage dispatches a MESSAGE_CREATE from author in their direct
// message channel with the bot (DMChannel(author)), and returns its id.
func (s *Server) DirectMessage(author User, content string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newIDLocked()
	s.dms[DMChannel(author)] = true
	s.dispatchLocked("MESSAGE_CREATE", message(id, DMChannel(author), "", author, content))
	return id
}

// DMChannel is the direct-message channel between author and the bot.
func DMChannel(author User) string {
	n, _ := strconv.ParseUint(author.ID, 10, 64)
	return strconv.FormatUint(n%1000000+5000000000000000000, 10)
}

func message(id, channelID, guildID string, author User, content string) map[string]any {
	m := map[string]any{"id": id, "channel_id": channelID, "author": author, "content": content,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "type": 0,
		"mentions": []any{}, "attachments": []any{}, "embeds": []any{}}
	if guildID != "" {
		m["guild_id"] = guildID
	}
	return m
}

func (s *Server) newIDLocked() string {
	s.nextID++
	return strconv.FormatUint(s.nextID, 10)
}

// dispatchLocked sends event t with data d to every valid session (and
// logs it there for a RESUME).
func (s *Server) dispatchLocked(t string, d any) {
	for _, sess := range s.sessions {
		if sess.valid {
			s.dispatchToLocked(sess, t, d)
		}
	}
	s.noteLocked()
}

func (s *Server) dispatchToLocked(sess *gwSession, t string, d any) {
	sess.seq++
	b := mustJSON(map[string]any{"op": opDispatch, "s": sess.seq, "t": t, "d": d})
	sess.log = append(sess.log, b)
	if sess.conn != nil {
		sess.conn.send(b)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(mustJSON(v))
}

// authed answers 401 to a request without the bot's token.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bot "+s.o.Token {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "401: Unauthorized", "code": 0})
			return
		}
		h(w, r)
	}
}

// gateway answers GET /gateway: where the websocket is. Discord asks no
// token for it.
func (s *Server) gateway(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, 200, map[string]any{"url": "ws://" + s.ln.Addr().String() + "/gateway",
		"shards": 1, "session_start_limit": map[string]any{"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})
}

func (s *Server) channel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	name, ok := s.o.Channels[id]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Unknown Channel", "code": 10003})
		return
	}
	writeJSON(w, 200, map[string]any{"id": id, "name": name, "type": 0, "guild_id": s.o.GuildID})
}

func (s *Server) guild(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("id") != s.o.GuildID {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Unknown Guild", "code": 10004})
		return
	}
	writeJSON(w, 200, map[string]any{"id": s.o.GuildID, "name": s.o.GuildName})
}

// postMessage records a message the bot sends, or answers 429 while a
// rate limit is set. As Discord does, the bot's own message comes back
// to it as a MESSAGE_CREATE.
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var body struct {
		Content         string          `json:"content"`
		AllowedMentions json.RawMessage `json:"allowed_mentions"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "400: Bad Request", "code": 50109})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, known := s.o.Channels[id]
	if !known && !s.dms[id] {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Unknown Channel", "code": 10003})
		return
	}
	if s.limitNext > 0 {
		s.limitNext--
		s.limited = append(s.limited, time.Now())
		s.noteLocked()
		secs := s.retryAfter.Seconds()
		w.Header().Set("Retry-After", strconv.Itoa(int(secs+0.999)))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": secs, "global": false})
		return
	}
	if len(body.Content) > 4000 || len([]rune(body.Content)) > 2000 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid Form Body", "code": 50035})
		return
	}
	s.posts = append(s.posts, Post{ChannelID: id, Content: body.Content, AllowedMentions: body.AllowedMentions, At: time.Now()})
	mid := s.newIDLocked()
	guild := ""
	if known {
		guild = s.o.GuildID
	}
	msg := message(mid, id, guild, BotUser, body.Content)
	s.dispatchLocked("MESSAGE_CREATE", msg)
	writeJSON(w, 200, msg)
}

// gatewaySocket serves one gateway connection: HELLO, then the bot's
// opcodes until it goes.
func (s *Server) gatewaySocket(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c := &gwConn{ws: ws, query: r.URL.Query(), wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.CloseNow()
		return
	}
	// Counted under mu, so that Close, which sets closed under mu, waits
	// for every connection it did not refuse.
	s.conns[c] = true
	s.wg.Add(2)
	s.mu.Unlock()
	go func() { defer s.wg.Done(); c.writeLoop() }()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		if c.sess != nil && c.sess.conn == c {
			c.sess.conn = nil
		}
		s.noteLocked()
		s.mu.Unlock()
		_ = ws.CloseNow()
		close(c.done)
	}()
	c.send(mustJSON(map[string]any{"op": opHello, "d": map[string]any{"heartbeat_interval": s.o.HeartbeatInterval.Milliseconds()}}))
	for {
		_, b, err := ws.Read(r.Context())
		if err != nil {
			return
		}
		var p struct {
			Op int             `json:"op"`
			D  json.RawMessage `json:"d"`
		}
		if json.Unmarshal(b, &p) != nil {
			_ = ws.Close(4002, "Decode error.")
			return
		}
		switch p.Op {
		case opHeartbeat:
			s.mu.Lock()
			s.heartbeats++
			ack := !s.noACK
			s.noteLocked()
			s.mu.Unlock()
			if ack {
				c.send(mustJSON(map[string]any{"op": opHeartbeatACK}))
			}
		case opIdentify:
			if code, why := s.identify(c, p.D); code != 0 {
				_ = ws.Close(websocket.StatusCode(code), why)
				return
			}
		case opResume:
			if code, why := s.resume(c, p.D); code != 0 {
				_ = ws.Close(websocket.StatusCode(code), why)
				return
			}
		default:
			_ = ws.Close(4001, "Unknown opcode.")
			return
		}
	}
}

// identify starts a new session on c (READY, then GUILD_CREATE), or
// returns the close code and reason that refuse it.
func (s *Server) identify(c *gwConn, d json.RawMessage) (int, string) {
	var id struct {
		Token   string `json:"token"`
		Intents int    `json:"intents"`
	}
	_ = json.Unmarshal(d, &id)
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := strings.TrimPrefix(id.Token, "Bot ") == s.o.Token
	s.identifies = append(s.identifies, Identify{TokenOK: ok, Intents: id.Intents, Query: c.query, At: time.Now()})
	s.noteLocked()
	if !ok {
		return CloseAuthenticationFailed, "Authentication failed."
	}
	if s.o.DisallowMessageContent && id.Intents&IntentMessageContent != 0 {
		return CloseDisallowedIntents, "Disallowed intent(s)."
	}
	if c.sess != nil {
		c.sess.valid, c.sess.conn = false, nil
	}
	sess := &gwSession{id: "session-" + s.newIDLocked(), valid: true, conn: c}
	s.sessions[sess.id] = sess
	c.sess = sess
	s.dispatchToLocked(sess, "READY", map[string]any{"v": 10, "user": BotUser, "session_id": sess.id,
		"resume_gateway_url": "ws://" + s.ln.Addr().String() + "/gateway",
		"guilds":             []any{map[string]any{"id": s.o.GuildID, "unavailable": true}}})
	channels := make([]any, 0, len(s.o.Channels))
	for cid, name := range s.o.Channels {
		channels = append(channels, map[string]any{"id": cid, "name": name, "type": 0, "guild_id": s.o.GuildID})
	}
	s.dispatchToLocked(sess, "GUILD_CREATE", map[string]any{"id": s.o.GuildID, "name": s.o.GuildName,
		"channels": channels, "members": []any{}, "roles": []any{}, "emojis": []any{}})
	return 0, ""
}

// resume reattaches c to its session, replays what it missed and sends
// RESUMED; an unknown or invalidated session gets INVALID_SESSION.
func (s *Server) resume(c *gwConn, d json.RawMessage) (int, string) {
	var rs struct {
		Token     string `json:"token"`
		SessionID string `json:"session_id"`
		Seq       int64  `json:"seq"`
	}
	_ = json.Unmarshal(d, &rs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.TrimPrefix(rs.Token, "Bot ") != s.o.Token {
		return CloseAuthenticationFailed, "Authentication failed."
	}
	sess := s.sessions[rs.SessionID]
	if sess == nil || !sess.valid || rs.Seq > sess.seq {
		c.send(mustJSON(map[string]any{"op": opInvalidSession, "d": false}))
		return 0, ""
	}
	if old := sess.conn; old != nil && old != c {
		old.sess = nil
		_ = old.ws.CloseNow()
	}
	sess.conn, c.sess = c, sess
	for _, b := range sess.log[rs.Seq:] {
		c.send(b)
	}
	sess.seq++
	b := mustJSON(map[string]any{"op": opDispatch, "s": sess.seq, "t": "RESUMED", "d": map[string]any{}})
	sess.log = append(sess.log, b)
	c.send(b)
	s.resumes++
	s.noteLocked()
	return 0, ""
}

// send queues b for the connection's writer.
func (c *gwConn) send(b []byte) {
	c.mu.Lock()
	c.out = append(c.out, b)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop writes queued frames in order until the connection ends.
func (c *gwConn) writeLoop() {
	for {
		select {
		case <-c.done:
			return
		case <-c.wake:
		}
		c.mu.Lock()
		out := c.out
		c.out = nil
		c.mu.Unlock()
		for _, b := range out {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := c.ws.Write(ctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				return
			}
		}
	}
}
