package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/portico-mud/portico/sdk"
)

// ProtocolKey is the protocol_key of bot sessions (Evennia's "ircbot").
const ProtocolKey = "ircbot"

// newSessionTimeout bounds how long StartBot waits for a session id from
// the host.
const newSessionTimeout = 10 * time.Second

// timing holds the plugin's timeouts and rates. They are constants for
// users; tests shorten them.
type timing struct {
	// backoff is the wait between reconnects (Evennia's 1 s, ×1.5, at
	// most 60 s). It starts again from its minimum only after a
	// connection that stayed registered for StableAfter: a server that
	// welcomes the bot and
	// drops it at once must not get it back every second.
	backoff     sdk.Backoff
	dialTimeout time.Duration
	// registerTimeout: no welcome (001) within it and the connection is
	// dropped.
	registerTimeout time.Duration
	// pingInterval of silence makes the bot PING; no line within
	// pingTimeout after that and the connection is dead.
	pingInterval, pingTimeout time.Duration
	writeTimeout              time.Duration
	// quitTimeout is how long the server gets to close after QUIT.
	quitTimeout time.Duration
	// rejoinDelay after a KICK; joinRetry after the server refused a JOIN.
	rejoinDelay, joinRetry time.Duration
	// isonInterval: how often a bot without its wanted nick asks ISON
	// whether it is free, on a server without MONITOR.
	isonInterval time.Duration
	// Pacing: burst lines at once, then one per lineInterval.
	burst        int
	lineInterval time.Duration
	// The chat queue holds at most queueMax lines, none older than
	// queueMaxAge.
	queueMax    int
	queueMaxAge time.Duration
	// Lines dropped by the relay limit are told to the game in one
	// notice once relayQuiet passes without a drop (the flood is over),
	// or relayNoticeMax after the first drop while it goes on.
	relayQuiet, relayNoticeMax time.Duration
}

func defaultTiming() timing {
	return timing{
		backoff:         sdk.Backoff{Min: time.Second, Max: 60 * time.Second, Factor: 1.5, StableAfter: 60 * time.Second},
		dialTimeout:     20 * time.Second,
		registerTimeout: 60 * time.Second,
		pingInterval:    90 * time.Second,
		pingTimeout:     30 * time.Second,
		writeTimeout:    30 * time.Second,
		quitTimeout:     2 * time.Second,
		rejoinDelay:     5 * time.Second,
		joinRetry:       60 * time.Second,
		isonInterval:    15 * time.Second,
		burst:           4,
		lineInterval:    time.Second,
		queueMax:        100,
		queueMaxAge:     5 * time.Minute,
		relayQuiet:      2 * time.Second,
		relayNoticeMax:  30 * time.Second,
	}
}

// Plugin is the IRC bridge plugin. It listens on nothing: every bot is
// started by the host with its config dict (StartBot) and connects out.
type Plugin struct {
	// timing is the zero value in production (defaults are filled in at
	// Configure); tests set it first.
	timing timing

	// bots are the running bots by name: one per name, none started
	// once the plugin shuts down.
	bots sdk.BotSet[*bot]

	mu     sync.Mutex
	portal *sdk.Portal
	log    *slog.Logger
}

var (
	_ sdk.Plugin       = (*Plugin)(nil)
	_ sdk.BotStarter   = (*Plugin)(nil)
	_ sdk.Validator    = (*Plugin)(nil)
	_ sdk.BotValidator = (*Plugin)(nil)
	_ sdk.Reconfigurer = (*Plugin)(nil)
)

// pluginConfig is the plugins.irc.config block: nothing yet, since bots
// bring their own config; an unknown key is still an error.
type pluginConfig struct{}

// Configure checks the (empty) config block and makes the plugin ready to
// start bots.
func (p *Plugin) Configure(_ context.Context, cfg sdk.Config, portal *sdk.Portal) (sdk.Info, error) {
	var c pluginConfig
	if err := cfg.Decode(&c); err != nil {
		return sdk.Info{}, fmt.Errorf("irc: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timing == (timing{}) {
		p.timing = defaultTiming()
	}
	p.portal, p.log = portal, portal.Log()
	return info(), nil
}

// info is what Configure and Reconfigure answer: the plugin listens on
// nothing.
func info() sdk.Info {
	return sdk.Info{ProtocolKey: ProtocolKey, Capabilities: []string{"bots"}}
}

// Validate checks the (empty) config block: an unknown key is an error.
// Each bot's config dict is checked when the bot is added.
func (p *Plugin) Validate(_ context.Context, cfg sdk.Config) error {
	var c pluginConfig
	return cfg.Decode(&c)
}

// ValidateBot checks a bot's config dict as StartBot would, before the
// bot exists: the host has not added its account id (uid) yet.
func (p *Plugin) ValidateBot(_ context.Context, cfg sdk.Config) error {
	raw := maps.Clone(cfg.Raw)
	if raw == nil {
		raw = map[string]any{}
	}
	if _, ok := raw["uid"]; !ok {
		raw["uid"] = 1 // the host adds the real one when it starts the bot
	}
	_, err := ParseBotConfig(sdk.Config{Raw: raw, Host: cfg.Host})
	return err
}

// Reconfigure takes a new block or new host facts in place: the block has
// no keys, and the host's facts reach each bot in its config dict when it
// (re)starts, so nothing running changes and no bot is dropped.
func (p *Plugin) Reconfigure(ctx context.Context, cfg sdk.Config) (sdk.Info, error) {
	if err := p.Validate(ctx, cfg); err != nil {
		return sdk.Info{}, fmt.Errorf("irc: %w", err)
	}
	return info(), nil
}

// StartBot starts one bot from its config dict and returns its session at
// once; the bot connects in the background and shows how it goes in its
// BOT_STATE flag. A bot of the same name already running is stopped
// first (QUIT), so that one bot always has exactly one session.
func (p *Plugin) StartBot(ctx context.Context, cfg sdk.Config) (*sdk.Session, error) {
	bc, err := ParseBotConfig(cfg)
	if err != nil {
		return nil, err
	}
	if bc.ServerName == "" {
		bc.ServerName = cfg.Host.ServerName
	}
	p.mu.Lock()
	portal := p.portal
	p.mu.Unlock()
	if portal == nil {
		return nil, errors.New("irc: start bot: the plugin is not configured")
	}
	old, end, err := p.bots.BeginStart(bc.Bot)
	if err != nil {
		return nil, fmt.Errorf("irc: start bot: %w", err)
	}
	defer end()
	var prev chan struct{}
	if old != nil {
		old.log.Info("irc: bot started again; stopping the running one")
		portal.Disconnect(old.sess, "Bot restarting")
		old.stop("Bot restarting") // in case its session was already gone
		prev = old.done
	}

	b := newBot(ctx, p, bc)
	sctx, cancel := context.WithTimeout(ctx, newSessionTimeout)
	defer cancel()
	sess, err := portal.NewSession(sctx, b, ProtocolKey, bc.address())
	if err != nil {
		b.cancel()
		return nil, fmt.Errorf("irc: start bot %s: %w", bc.Bot, err)
	}
	b.sess = sess
	b.initSession()
	p.bots.Put(bc.Bot, b)
	sess.Connect()
	b.log.Info("irc: bot started", "sessid", sess.ID(), "nick", bc.Nick)
	go b.run(prev)
	return sess, nil
}

// bot returns the running bot named name, or nil (for tests).
func (p *Plugin) bot(name string) *bot { return p.bots.Get(name) }

// Shutdown stops every bot (the SDK has already closed their sessions,
// which sends their QUIT) and waits for them until ctx ends.
func (p *Plugin) Shutdown(ctx context.Context) error {
	err := p.bots.Shutdown(ctx, func(b *bot) { b.stop(defaultQuitReason) }, func(b *bot) <-chan struct{} { return b.done })
	if err != nil {
		return fmt.Errorf("irc: shutdown: bots still stopping: %w", err)
	}
	return nil
}
