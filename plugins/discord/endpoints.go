package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"github.com/bwmarrin/discordgo"
)

// discordgo v0.28.1 keeps Discord's REST endpoints, and the API version
// that the gateway URL names, in package variables: one set per process.
// The plugin sets them once, at Configure, from its block's api_url
// (tests point it at a fake Discord), before any bot starts; a bot dict
// naming another api_url is refused, and a changed api_url restarts the
// plugin. The functions among the endpoints (EndpointChannelMessages ...)
// read these variables when called, so only the string ones are set.
var apiMu sync.Mutex

// setAPI points discordgo at api, a normalised api_url ending in "/".
// Only Configure calls it, before any bot runs: discordgo reads the
// variables without a lock.
func setAPI(api string) error {
	u, err := url.Parse(api)
	if err != nil {
		return fmt.Errorf("discord: api_url: %w", err)
	}
	apiMu.Lock()
	defer apiMu.Unlock()
	if discordgo.EndpointAPI == api && discordgo.APIVersion == "10" {
		// Already so (a plugin configured again in one process, in
		// tests): nothing is written that a running bot might read.
		return nil
	}
	discordgo.APIVersion = "10"
	discordgo.EndpointDiscord = u.Scheme + "://" + u.Host + "/"
	discordgo.EndpointAPI = api
	discordgo.EndpointGuilds = api + "guilds/"
	discordgo.EndpointChannels = api + "channels/"
	discordgo.EndpointUsers = api + "users/"
	discordgo.EndpointGateway = api + "gateway"
	discordgo.EndpointGatewayBot = discordgo.EndpointGateway + "/bot"
	discordgo.EndpointWebhooks = api + "webhooks/"
	discordgo.EndpointStickers = api + "stickers/"
	discordgo.EndpointStageInstances = api + "stage-instances"
	discordgo.EndpointVoice = api + "/voice/"
	discordgo.EndpointVoiceRegions = discordgo.EndpointVoice + "regions"
	discordgo.EndpointNitroStickersPacks = api + "/sticker-packs"
	discordgo.EndpointGuildCreate = api + "guilds"
	discordgo.EndpointApplications = api + "applications"
	discordgo.EndpointOAuth2 = api + "oauth2/"
	discordgo.EndpointOAuth2Applications = discordgo.EndpointOAuth2 + "applications"
	discordgo.EndpointOauth2 = discordgo.EndpointOAuth2
	discordgo.EndpointOauth2Applications = discordgo.EndpointOAuth2Applications
	return nil
}

// secrets holds every bot token this process uses, so that the log
// routing below can blank them: discordgo's messages are not supposed to
// carry one, and this makes sure.
var secrets struct {
	sync.Mutex
	tokens map[string]int
}

// holdSecret adds a token to those blanked in logs; releaseSecret
// removes it when the bot using it stops.
func holdSecret(t string) {
	secrets.Lock()
	defer secrets.Unlock()
	if secrets.tokens == nil {
		secrets.tokens = map[string]int{}
	}
	secrets.tokens[t]++
}

func releaseSecret(t string) {
	secrets.Lock()
	defer secrets.Unlock()
	if secrets.tokens[t]--; secrets.tokens[t] <= 0 {
		delete(secrets.tokens, t)
	}
}

// redact blanks every known token in s.
func redact(s string) string {
	secrets.Lock()
	defer secrets.Unlock()
	for t := range secrets.tokens {
		s = strings.ReplaceAll(s, t, "[token]")
	}
	return s
}

// routeLogs sends discordgo's log lines (a package variable, like the
// endpoints) to log at a matching level, tokens blanked. discordgo logs
// to the standard logger otherwise.
func routeLogs(log *slog.Logger) {
	apiMu.Lock()
	defer apiMu.Unlock()
	discordgo.Logger = func(level, _ int, format string, a ...any) {
		msg := redact(fmt.Sprintf(format, a...))
		switch level {
		case discordgo.LogError:
			log.Error("discordgo: " + msg)
		case discordgo.LogWarning:
			log.Warn("discordgo: " + msg)
		case discordgo.LogInformational:
			log.Info("discordgo: " + msg)
		default:
			log.Debug("discordgo: " + msg)
		}
	}
}
