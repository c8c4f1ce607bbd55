package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"golang.org/x/time/rate"
)

// Protocol flags a bot session carries, synced to the host on every change
// so that @bots, `portico bot list` and `portico status` show them (the
// state flags are every bot plugin's: sdk/contract).
const (
	// FlagState is "connecting", "connected", "reconnecting", "rejoining",
	// "stopped", "sasl failed: <reason>", or "failed: gave up after N
	// reconnects".
	FlagState = contract.FlagBotState
	// FlagStateSince is when the state began, in unix seconds.
	FlagStateSince = contract.FlagBotStateSince
	// FlagRetryAt is, while reconnecting, when the next try is due (unix
	// seconds; 0 otherwise).
	FlagRetryAt = contract.FlagBotRetryAt
	// FlagNetwork is "network:port/#chan".
	FlagNetwork = contract.FlagBotNetwork
	// FlagNick is the nick the bot has (or is trying) on the network.
	FlagNick = "BOT_NICK"
	// FlagError is why the last connection ended or the channel was left,
	// "" when nothing went wrong.
	FlagError = contract.FlagBotError
)

// Bot states.
const (
	stateConnecting   = contract.BotConnecting
	stateConnected    = contract.BotConnected
	stateReconnecting = contract.BotReconnecting
	stateRejoining    = "rejoining"
	stateStopped      = contract.BotStopped
	// stateGaveUp is followed by the number of reconnects made.
	stateGaveUp = "failed: gave up after"
)

// Messages the host sends to a bot session (Evennia's outputfuncs).
const (
	outChannel = "channel"
	outPrivmsg = "privmsg"
)

// defaultQuitReason is the QUIT message when the host gives none.
const defaultQuitReason = "Portico bot stopping"

// maxMessageLines bounds the IRC lines one game message may become, so
// that one long message cannot fill the channel (and the queue).
const maxMessageLines = 10

// bot is one IRC bridge bot: its session, its outgoing queue and the loop
// that keeps it connected. It is the sdk.Conn behind its session; the
// session outlives every IRC connection (Evennia's #3021: one bot, one
// session).
type bot struct {
	p      *Plugin
	cfg    BotConfig
	t      timing
	log    *slog.Logger
	sess   *sdk.Session
	queue  *lineQueue
	bucket *tokenBucket
	// relayLimit paces what the bot passes from IRC into the game (nil:
	// no limit); relayMu guards the count of lines it dropped and the
	// timer of the notice that tells the game.
	relayLimit *rate.Limiter
	relayMu    sync.Mutex
	dropped    int
	firstDrop  time.Time
	lastDrop   time.Time
	dropTimer  *time.Timer
	relayDone  bool
	ctx        context.Context
	cancel     context.CancelFunc
	// done is closed when the bot has quit and stopped for good.
	done chan struct{}

	// status is the bot's state, as the host shows it.
	status *sdk.BotStatus

	mu         sync.Mutex
	quitReason string
	// nick is the nick the bot has on the network (or is registering
	// with); hostLen is the length of "!user@host" in its prefix as the
	// server showed it, 0 until known. Both size split lines.
	nick    string
	hostLen int
}

var _ sdk.Conn = (*bot)(nil)

func newBot(ctx context.Context, p *Plugin, cfg BotConfig) *bot {
	t := p.timing
	b := &bot{
		p: p, cfg: cfg, t: t,
		log:    p.log.With("bot", cfg.Bot, "network", cfg.networkLabel()),
		queue:  newLineQueue(t.queueMax, t.queueMaxAge),
		bucket: newTokenBucket(t.burst, t.lineInterval),
		done:   make(chan struct{}),
		status: sdk.NewBotStatus(stateConnecting),
		nick:   cfg.Nick,
	}
	if cfg.RelayRate > 0 {
		b.relayLimit = rate.NewLimiter(rate.Limit(cfg.RelayRate), cfg.RelayBurst)
	}
	b.ctx, b.cancel = context.WithCancel(ctx)
	return b
}

// relay passes a line from IRC into the game, unless it is over the
// bot's relay limit: a flood from IRC (20,000 lines in a few seconds)
// must not reach every player on the game channel. What is dropped is
// counted and told to the game in one notice per flood.
func (b *bot) relay(m sdk.Message) {
	if b.relayLimit == nil || b.relayLimit.Allow() {
		b.sess.DataIn(m)
		return
	}
	now := time.Now()
	b.relayMu.Lock()
	defer b.relayMu.Unlock()
	if b.relayDone {
		return
	}
	b.dropped++
	b.lastDrop = now
	if b.dropTimer == nil {
		b.firstDrop = now
		b.dropTimer = time.AfterFunc(b.t.relayQuiet, b.dropNotice)
	}
}

// dropNotice runs from the notice timer: once the flood has paused for
// relayQuiet, or relayNoticeMax after its first dropped line, the game
// is told how many lines were dropped, as an action of "[irc]" on the
// bot's channel: "[public] [irc] 19990 lines from #chan dropped: flooding".
func (b *bot) dropNotice() {
	now := time.Now()
	b.relayMu.Lock()
	if b.relayDone {
		b.relayMu.Unlock()
		return
	}
	quietIn := b.t.relayQuiet - now.Sub(b.lastDrop)
	maxIn := b.t.relayNoticeMax - now.Sub(b.firstDrop)
	if quietIn > 0 && maxIn > 0 {
		// Still flooding, and the notice is not due yet.
		b.dropTimer.Reset(min(quietIn, maxIn))
		b.relayMu.Unlock()
		return
	}
	n := b.dropped
	b.dropped, b.dropTimer = 0, nil
	b.relayMu.Unlock()
	b.log.Warn("irc: flood from IRC; lines not relayed", "dropped", n,
		"relay_rate", b.cfg.RelayRate, "relay_burst", b.cfg.RelayBurst)
	b.sess.DataIn(sdk.Message{
		Name:   "bot_data_in",
		Args:   []any{fmt.Sprintf("%d lines from %s dropped: flooding", n, b.cfg.Channel)},
		Kwargs: map[string]any{"type": "action", "user": "[irc]"},
	})
}

// stopRelay ends relaying for good (the bot stopped); a pending notice is
// not sent.
func (b *bot) stopRelay() {
	b.relayMu.Lock()
	defer b.relayMu.Unlock()
	b.relayDone = true
	if b.dropTimer != nil {
		b.dropTimer.Stop()
		b.dropTimer = nil
	}
}

// initSession fills the session's data before Connect: logged in as the
// bot's account, marked as a bot, with its state flags.
func (b *bot) initSession() {
	b.mu.Lock()
	flags := b.flagsLocked()
	b.mu.Unlock()
	sdk.InitBotSession(b.sess, b.cfg.UID, b.cfg.Bot, flags)
}

// flagsLocked returns the bot's flags. Called with mu held, or before
// the bot runs.
func (b *bot) flagsLocked() map[string]any {
	flags := b.status.Flags()
	flags[FlagNetwork] = b.cfg.networkLabel()
	flags[FlagNick] = b.nick
	return flags
}

// setState records a new state (the time it began only changes with the
// state) and the last error, and syncs them to the host.
func (b *bot) setState(state, lastErr string) { b.setRetry(state, time.Time{}, lastErr) }

// setRetry is setState with the time the next reconnect is due.
func (b *bot) setRetry(state string, retryAt time.Time, lastErr string) {
	if b.status.Report(b.sess, state, retryAt, lastErr) {
		b.log.Info("irc: bot state", "state", state, "err", lastErr)
	}
}

// setNick records the nick the bot goes by and syncs it.
func (b *bot) setNick(nick string) {
	b.mu.Lock()
	if nick == b.nick {
		b.mu.Unlock()
		return
	}
	b.nick = nick
	b.mu.Unlock()
	b.sess.SetFlags(map[string]any{FlagNick: nick})
}

func (b *bot) setHostLen(n int) {
	b.mu.Lock()
	b.hostLen = n
	b.mu.Unlock()
}

// State returns the bot's state and when it began (for tests and logs).
func (b *bot) State() (string, time.Time) { return b.status.State() }

// Send relays the host's output: a game channel message to the IRC
// channel, a private answer to one IRC user. Everything else (text, the
// connection screen, prompts) means nothing to IRC and is dropped, as
// Evennia's bot does.
func (b *bot) Send(_ *sdk.Session, msgs []sdk.Message) {
	for _, m := range msgs {
		switch m.Name {
		case outChannel:
			if text, ok := firstArg(m); ok {
				b.say(b.cfg.Channel, text)
			}
		case outPrivmsg:
			text, ok := firstArg(m)
			user, _ := m.Kwargs["user"].(string)
			if !ok || !validNick(user) {
				b.log.Warn("irc: privmsg without a valid user dropped", "user", user)
				continue
			}
			b.say(user, text)
		default:
			b.log.Debug("irc: output to a bot ignored", "name", m.Name)
		}
	}
}

func firstArg(m sdk.Message) (string, bool) {
	if len(m.Args) == 0 {
		return "", false
	}
	s, ok := m.Args[0].(string)
	return s, ok
}

// say queues text (markup) for target, as PRIVMSG lines that fit the
// server's line limit.
func (b *bot) say(target, text string) {
	lines := ircLines(text, b.textBudget(target))
	if len(lines) > maxMessageLines {
		b.log.Warn("irc: long message cut", "lines", len(lines), "kept", maxMessageLines)
		lines = lines[:maxMessageLines]
	}
	raw := make([]string, len(lines))
	for i, l := range lines {
		raw[i] = "PRIVMSG " + target + " :" + l
	}
	if n := b.queue.push(time.Now(), raw...); n > 0 {
		b.log.Warn("irc: outgoing queue full; lines dropped", "dropped", n, "max", b.t.queueMax)
	}
}

// IRC's line limit (RFC 1459): 512 bytes with the CR LF.
const maxLineBytes = 512

// defaultHostLen is the length of "!user@host" assumed until the server
// shows the bot its own prefix: a 10-character ident with "~" and a
// 63-character host name.
const defaultHostLen = 1 + 11 + 1 + 63

// textBudget returns how many bytes of text one PRIVMSG to target may
// carry. The server relays it with the bot's prefix in front
// (":nick!user@host PRIVMSG target :text\r\n") and cuts what does not fit
// in 512 bytes, so that prefix is accounted for.
func (b *bot) textBudget(target string) int {
	b.mu.Lock()
	nick, host := b.nick, b.hostLen
	b.mu.Unlock()
	if host == 0 {
		host = defaultHostLen
	}
	overhead := len(":") + len(nick) + host + len(" PRIVMSG ") + len(target) + len(" :") + len("\r\n")
	return maxLineBytes - overhead
}

// Close ends the bot: it quits IRC with reason and stops reconnecting.
// The SDK calls it when the host removes the bot's session or shuts the
// plugin down.
func (b *bot) Close(reason string) { b.stop(reason) }

func (b *bot) stop(reason string) {
	b.mu.Lock()
	if b.quitReason == "" {
		b.quitReason = reason
		if b.quitReason == "" {
			b.quitReason = defaultQuitReason
		}
	}
	b.mu.Unlock()
	b.cancel()
}

func (b *bot) quitMessage() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.quitReason == "" {
		return defaultQuitReason
	}
	return b.quitReason
}

// run keeps the bot connected until it is stopped: each connection that
// ends is followed by a wait from the plugin's backoff, which starts again
// from its minimum only after a connection that stayed registered for its
// StableAfter, not
// after every accept or welcome, so that a hostile server cannot make the
// bot reconnect every second. After max_reconnects reconnects in a row
// (counted from the last stable connection) the bot gives up: it stays,
// with its session, in the state "failed: gave up after N reconnects",
// until the host stops or restarts it. prev, when not nil, is the bot this
// one replaces: its QUIT goes out first, so that the nick is free.
func (b *bot) run(prev <-chan struct{}) {
	defer close(b.done)
	defer b.p.bots.Forget(b.cfg.Bot, b)
	defer b.stopRelay()
	if prev != nil {
		select {
		case <-prev:
		case <-time.After(b.t.quitTimeout + b.t.writeTimeout):
		case <-b.ctx.Done():
		}
	}
	waits := b.t.backoff // this bot's own copy
	reconnects := 0
	for b.ctx.Err() == nil {
		up, err := b.connectOnce()
		if b.ctx.Err() != nil {
			break
		}
		if waits.Lasted(up) {
			reconnects = 0
		}
		if max := b.cfg.MaxReconnects; max > 0 && reconnects >= max {
			b.log.Error("irc: giving up", "reconnects", reconnects, "err", err)
			b.setState(fmt.Sprintf("%s %d reconnects", stateGaveUp, reconnects), errString(err))
			<-b.ctx.Done()
			break
		}
		state := stateReconnecting
		var se *saslError
		if errors.As(err, &se) {
			state = "sasl failed: " + se.reason
		}
		delay := waits.Next()
		b.log.Warn("irc: connection ended", "err", err, "retry_in", delay, "reconnects", reconnects)
		b.setRetry(state, time.Now().Add(delay), errString(err))
		sdk.Wait(b.ctx, delay)
		reconnects++
	}
	b.setState(stateStopped, "")
	b.log.Info("irc: bot stopped", "reason", b.quitMessage())
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// saslError is a failed SASL login: the bot reports it in its state and
// tries again with backoff (the account may be fixed meanwhile).
type saslError struct{ reason string }

func (e *saslError) Error() string { return fmt.Sprintf("irc: sasl failed: %s", e.reason) }
