package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/portico-mud/portico/sdk"
)

// ProtocolKey is the protocol_key of bot sessions (Evennia's "discord").
const ProtocolKey = "discord"

// newSessionTimeout bounds how long StartBot waits for a session id from
// the host.
const newSessionTimeout = 10 * time.Second

// timing holds the plugin's timeouts and limits. They are constants for
// users; tests shorten them.
type timing struct {
	// backoff is the wait between reconnects (Evennia's 1 s, ×1.5, at
	// most 60 s), and between tries of a message Discord failed to take.
	// It starts again from its minimum only after a connection that
	// stayed up for StableAfter.
	backoff sdk.Backoff
	// openTimeout bounds one connection to the gateway, from the dial to
	// READY (or RESUMED): discordgo's Open waits for HELLO and READY
	// without a deadline of its own.
	openTimeout time.Duration
	// queueMax is how many Discord messages wait per bot to be sent;
	// maxAge how long one may wait before it is dropped rather than sent
	// late.
	queueMax int
	maxAge   time.Duration
}

func defaultTiming() timing {
	return timing{
		backoff:     sdk.Backoff{Min: time.Second, Max: 60 * time.Second, Factor: 1.5, StableAfter: 60 * time.Second},
		openTimeout: 30 * time.Second,
		queueMax:    100,
		maxAge:      5 * time.Minute,
	}
}

// Plugin is the Discord bridge plugin. It listens on nothing: every bot
// is started by the host with its config dict (StartBot) and connects out
// to Discord's gateway.
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
	cfg    pluginConfig
}

var (
	_ sdk.Plugin       = (*Plugin)(nil)
	_ sdk.BotStarter   = (*Plugin)(nil)
	_ sdk.Validator    = (*Plugin)(nil)
	_ sdk.BotValidator = (*Plugin)(nil)
	_ sdk.Reconfigurer = (*Plugin)(nil)
)

// Configure checks the block, points discordgo at its api_url and makes
// the plugin ready to start bots.
func (p *Plugin) Configure(_ context.Context, cfg sdk.Config, portal *sdk.Portal) (sdk.Info, error) {
	pc, err := parsePluginConfig(cfg)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("discord: %w", err)
	}
	if err := setAPI(pc.APIURL); err != nil {
		return sdk.Info{}, err
	}
	routeLogs(portal.Log())
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timing == (timing{}) {
		p.timing = defaultTiming()
	}
	p.portal, p.log, p.cfg = portal, portal.Log(), pc
	return info(), nil
}

// info is what Configure and Reconfigure answer: the plugin listens on
// nothing.
func info() sdk.Info {
	return sdk.Info{ProtocolKey: ProtocolKey, Capabilities: []string{"bots"}}
}

// Validate checks the block: its keys, api_url, and that a token it names
// can be read.
func (p *Plugin) Validate(_ context.Context, cfg sdk.Config) error {
	_, err := parsePluginConfig(cfg)
	return err
}

// ValidateBot checks a bot's config dict as StartBot would, before the
// bot exists (the host has not added its uid yet), against the running
// plugin's block (its api_url and token).
func (p *Plugin) ValidateBot(_ context.Context, cfg sdk.Config) error {
	_, err := parseBotConfig(cfg, p.pluginConfig(), false)
	return err
}

// pluginConfig is the running block, or the default one before Configure.
func (p *Plugin) pluginConfig() pluginConfig {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.portal == nil {
		return pluginConfig{APIURL: defaultAPIURL}
	}
	return p.cfg
}

// Reconfigure takes new host facts in place (each bot gets them when it
// next starts). A changed block restarts the plugin: discordgo's
// endpoints are set once per process, and a new token must reach every
// bot that uses it.
func (p *Plugin) Reconfigure(_ context.Context, cfg sdk.Config) (sdk.Info, error) {
	pc, err := parsePluginConfig(cfg)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("discord: %w", err)
	}
	old := p.pluginConfig()
	if key := changedKey(old, pc); key != "" {
		return sdk.Info{}, sdk.RestartNeeded(key)
	}
	return info(), nil
}

// changedKey names the first key of the block that differs, or "".
func changedKey(a, b pluginConfig) string {
	t := reflect.TypeFor[pluginConfig]()
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range t.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return t.Field(i).Tag.Get("json")
		}
	}
	return ""
}

// StartBot starts one bot from its config dict and returns its session at
// once; the bot connects in the background and shows how it goes in its
// BOT_STATE flag. A bot of the same name already running is stopped
// first, so that one bot always has exactly one session.
func (p *Plugin) StartBot(ctx context.Context, cfg sdk.Config) (*sdk.Session, error) {
	pc := p.pluginConfig()
	bc, err := parseBotConfig(cfg, pc, true)
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	token, err := bc.token(pc)
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	if bc.ServerName == "" {
		bc.ServerName = cfg.Host.ServerName
	}
	p.mu.Lock()
	portal := p.portal
	p.mu.Unlock()
	if portal == nil {
		return nil, errors.New("discord: start bot: the plugin is not configured")
	}
	old, end, err := p.bots.BeginStart(bc.Bot)
	if err != nil {
		return nil, fmt.Errorf("discord: start bot: %w", err)
	}
	defer end()
	if old != nil {
		old.log.Info("discord: bot started again; stopping the running one")
		portal.Disconnect(old.sess, "Bot restarting")
		old.stop()
		<-old.done
	}
	b, err := newBot(p, bc, token)
	if err != nil {
		return nil, fmt.Errorf("discord: start bot %s: %w", bc.Bot, err)
	}
	sctx, cancel := context.WithTimeout(ctx, newSessionTimeout)
	defer cancel()
	sess, err := portal.NewSession(sctx, b, ProtocolKey, bc.address())
	if err != nil {
		b.release()
		return nil, fmt.Errorf("discord: start bot %s: %w", bc.Bot, err)
	}
	b.sess = sess
	b.initSession()
	p.bots.Put(bc.Bot, b)
	sess.Connect()
	b.log.Info("discord: bot started", "sessid", sess.ID(), "channels", bc.ChannelIDs)
	b.start()
	return sess, nil
}

// bot returns the running bot named name, or nil (for tests).
func (p *Plugin) bot(name string) *bot { return p.bots.Get(name) }

// Shutdown stops every bot (the SDK has already closed their sessions)
// and waits for them until ctx ends.
func (p *Plugin) Shutdown(ctx context.Context) error {
	err := p.bots.Shutdown(ctx, func(b *bot) { b.stop() }, func(b *bot) <-chan struct{} { return b.done })
	if err != nil {
		return fmt.Errorf("discord: shutdown: bots still stopping: %w", err)
	}
	return nil
}
