package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
)

// intents are the gateway events the bot asks for: guilds (channel and
// guild names), guild and direct messages, and their content
// (MESSAGE_CONTENT is privileged: it must be switched on for the bot in
// Discord's developer portal, or the gateway closes with 4014).
const intents = discordgo.IntentsGuilds | discordgo.IntentsGuildMessages |
	discordgo.IntentsDirectMessages | discordgo.IntentMessageContent

// inQueue is how many Discord messages wait to be relayed to the game
// before the gateway reader waits for the relay.
const inQueue = 256

// recentIDs is how many message ids a bot remembers, so that a message
// delivered twice (a replay after a resume) reaches the game once.
const recentIDs = 1024

// bot is one Discord bridge bot: its session, its discordgo session (one
// gateway connection at a time), the queue of messages to Discord and the
// loops that keep it connected and relay both ways. It is the sdk.Conn
// behind its session; the session outlives every gateway connection
// (Evennia's #3021: one bot, one session).
type bot struct {
	p      *Plugin
	cfg    BotConfig
	t      timing
	log    *slog.Logger
	sess   *sdk.Session
	status *sdk.BotStatus
	dg     *discordgo.Session
	token  string
	// transport carries the bot's REST requests.
	transport *http.Transport

	ctx    context.Context
	cancel context.CancelFunc
	// done is closed when the bot has stopped for good and every
	// goroutine it started has ended.
	done chan struct{}
	// dropped gets a value when the gateway connection ends (discordgo's
	// Disconnect event).
	dropped chan struct{}
	// in carries Discord messages from the gateway reader to the relay;
	// out carries messages for Discord to the sender.
	in  chan *discordgo.Message
	out chan outgoing

	// connMu guards the connection being opened: the dialer records it,
	// so that a stop or the open timeout can end an Open that waits.
	connMu   sync.Mutex
	opening  bool
	openConn net.Conn

	mu sync.Mutex
	// selfID is the bot's own Discord user id (from READY): its own
	// messages are not relayed back.
	selfID string
	// hadSession is set after the first READY: a reconnect then resumes.
	hadSession bool
	names      map[string]string
	released   bool
}

var _ sdk.Conn = (*bot)(nil)

// outgoing is one message for Discord.
type outgoing struct {
	channelID string
	content   string
	queued    time.Time
}

// newBot makes a bot and its discordgo session; start runs it.
func newBot(p *Plugin, cfg BotConfig, token string) (*bot, error) {
	dg, err := discordgo.New("Bot " + token)
	if err != nil {
		return nil, err
	}
	holdSecret(token)
	t := p.timing
	b := &bot{
		p: p, cfg: cfg, t: t, token: token, dg: dg,
		log:     p.log.With("bot", cfg.Bot, "network", cfg.networkLabel()),
		status:  sdk.NewBotStatus(contract.BotConnecting),
		done:    make(chan struct{}),
		dropped: make(chan struct{}, 1),
		in:      make(chan *discordgo.Message, inQueue),
		out:     make(chan outgoing, t.queueMax),
		names:   map[string]string{},
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	// The plugin runs its own reconnect loop: discordgo's retries every
	// close forever (a rejected token, 4004, included), sleeping without
	// a way to stop it. Rate limits are waited out here too, where a
	// stop can end the wait.
	dg.ShouldReconnectOnError = false
	dg.ShouldReconnectVoiceOnSessionError = false
	dg.ShouldRetryOnRateLimit = false
	dg.Identify.Intents = intents
	dg.Identify.Properties.Browser = "Portico"
	dg.Identify.Properties.Device = "Portico"
	dg.Compress = false
	dg.Identify.Compress = false
	// Handlers run in the gateway reader, in order: messages reach the
	// game in the order Discord sent them.
	dg.SyncEvents = true
	// discordgo's warnings dump whole gateway payloads (message contents)
	// into the log; the plugin logs what matters itself.
	dg.LogLevel = discordgo.LogError
	// A transport of the bot's own, whose idle connections end with it.
	b.transport = &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         countedDial((&net.Dialer{Timeout: t.openTimeout}).DialContext),
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: t.openTimeout,
		IdleConnTimeout:     90 * time.Second,
	}
	dg.Client = &http.Client{Timeout: t.openTimeout, Transport: b.transport}
	dg.Dialer = &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: t.openTimeout,
		NetDialContext:   b.dial,
	}
	dg.AddHandler(b.onReady)
	dg.AddHandler(b.onMessage)
	dg.AddHandler(b.onDisconnect)
	return b, nil
}

// initSession fills the session's data before Connect: logged in as the
// bot's account, marked as a bot, with its state flags.
func (b *bot) initSession() {
	flags := b.status.Flags()
	flags[contract.FlagBotNetwork] = b.cfg.networkLabel()
	sdk.InitBotSession(b.sess, b.cfg.UID, b.cfg.Bot, flags)
}

// start runs the bot's loops.
func (b *bot) start() {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); b.relayLoop() }()
	go func() { defer wg.Done(); b.sendLoop() }()
	go func() {
		b.run()
		wg.Wait()
		b.release()
		b.p.bots.Forget(b.cfg.Bot, b)
		close(b.done)
	}()
}

// release forgets the bot's token for the log filter and closes its idle
// connections, once.
func (b *bot) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.released {
		b.released = true
		releaseSecret(b.token)
		b.transport.CloseIdleConnections()
	}
}

// report records the bot's state and syncs it to the host.
func (b *bot) report(state string, retryAt time.Time, lastErr string) {
	if b.status.Report(b.sess, state, retryAt, lastErr) {
		b.log.Info("discord: bot state", "state", state, "err", lastErr)
	}
}

// Close ends the bot: it leaves the gateway and stops reconnecting. The
// SDK calls it when the host removes the bot's session or shuts the
// plugin down.
func (b *bot) Close(string) { b.stop() }

func (b *bot) stop() { b.cancel() }

// run keeps the bot connected to the gateway until it is stopped. Each
// connection that ends or fails is followed by a wait from the plugin's
// backoff, which starts again from its minimum only after a connection
// that stayed up for its StableAfter. A close that retrying cannot mend (4004: the token was
// refused; 4014: an intent not switched on) ends the tries: the bot stays,
// with its session, in the state "failed: <reason>" until the host starts
// it again.
func (b *bot) run() {
	waits := b.t.backoff // this bot's own copy
	lastErr := ""
	for b.ctx.Err() == nil {
		state := contract.BotConnecting
		if b.resumable() {
			state = contract.BotResuming
		}
		b.report(state, time.Time{}, lastErr)
		select {
		case <-b.dropped: // a stale signal from the connection before
		default:
		}
		openedAt := time.Now()
		err := b.open()
		if b.ctx.Err() != nil {
			if err == nil {
				b.dg.Close()
			}
			break
		}
		if err == nil {
			b.report(contract.BotConnected, time.Time{}, lastErr)
			select {
			case <-b.ctx.Done():
				b.dg.Close()
			case <-b.dropped:
				lastErr = "the gateway connection was lost"
				b.log.Warn("discord: gateway connection lost", "up", time.Since(openedAt).Round(time.Millisecond))
			}
			if b.ctx.Err() != nil {
				break
			}
			waits.Lasted(time.Since(openedAt))
		} else {
			if reason, fatal := fatalError(err); fatal {
				lastErr = redact(err.Error())
				b.log.Error("discord: giving up until the bot is started again", "reason", reason, "err", lastErr)
				b.report(contract.BotFailedPrefix+reason, time.Time{}, lastErr)
				<-b.ctx.Done()
				break
			}
			lastErr = redact(err.Error())
		}
		delay := waits.Next()
		if err != nil {
			b.log.Warn("discord: gateway connection failed", "err", lastErr, "retry_in", delay)
		}
		b.report(contract.BotReconnecting, time.Now().Add(delay), lastErr)
		sdk.Wait(b.ctx, delay)
	}
	b.report(contract.BotStopped, time.Time{}, b.status.LastError())
	b.log.Info("discord: bot stopped")
}

// open makes one gateway connection (discordgo's Open: GET
// {api_url}gateway once, then HELLO, IDENTIFY or RESUME, READY or
// RESUMED), ended early by a stop or after openTimeout.
func (b *bot) open() error {
	b.connMu.Lock()
	b.opening, b.openConn = true, nil
	b.connMu.Unlock()
	timer := time.AfterFunc(b.t.openTimeout, b.abortOpen)
	stop := context.AfterFunc(b.ctx, b.abortOpen)
	err := b.dg.Open()
	timer.Stop()
	stop()
	b.connMu.Lock()
	aborted := !b.opening
	b.opening, b.openConn = false, nil
	b.connMu.Unlock()
	if err != nil && aborted && b.ctx.Err() == nil {
		return fmt.Errorf("no READY from the gateway within %s: %w", b.t.openTimeout, err)
	}
	return err
}

// dial is the gateway dialer's: it records the connection, so that
// abortOpen can end an Open that waits on it.
func (b *bot) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := countedDial((&net.Dialer{}).DialContext)(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	b.connMu.Lock()
	defer b.connMu.Unlock()
	if !b.opening {
		c.Close()
		return nil, errors.New("discord: connection abandoned")
	}
	b.openConn = c
	return c, nil
}

// abortOpen ends the Open under way, if any, by closing its connection.
func (b *bot) abortOpen() {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	if b.opening {
		b.opening = false
		if b.openConn != nil {
			b.openConn.Close()
		}
	}
}

// resumable reports whether the bot has had a session (a reconnect then
// resumes it).
func (b *bot) resumable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hadSession
}

// fatalError says whether err, from a gateway connection, is one that
// retrying cannot mend, and why in a few words.
func fatalError(err error) (string, bool) {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case 4004:
			return "authentication failed", true
		case 4010:
			return "invalid shard", true
		case 4011:
			return "sharding required", true
		case 4012:
			return "invalid API version", true
		case 4013:
			return "invalid intents", true
		case 4014:
			return "disallowed intents (switch on the Message Content intent in Discord's developer portal)", true
		}
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == http.StatusUnauthorized {
		return "authentication failed", true
	}
	return "", false
}

// onReady records the bot's own id and that it has a session to resume.
func (b *bot) onReady(_ *discordgo.Session, r *discordgo.Ready) {
	b.mu.Lock()
	again := b.hadSession
	b.hadSession = true
	if r.User != nil {
		b.selfID = r.User.ID
	}
	b.mu.Unlock()
	b.log.Info("discord: ready", "new_session_after_another", again)
}

// onMessage hands a message to the relay, in order. It waits when the
// relay is behind rather than drop anything.
func (b *bot) onMessage(_ *discordgo.Session, m *discordgo.MessageCreate) {
	if m.Message == nil {
		return
	}
	select {
	case b.in <- m.Message:
	case <-b.ctx.Done():
	}
}

// onDisconnect signals the run loop that the connection ended.
func (b *bot) onDisconnect(*discordgo.Session, *discordgo.Disconnect) {
	select {
	case b.dropped <- struct{}{}:
	default:
	}
}

// countedDial returns dial with its connections counted among the
// plugin's figures for the host's metrics (sdk.CountConn): the bytes to
// and from Discord, and the connections while they are open.
func countedDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return sdk.CountConn(c), nil
	}
}
