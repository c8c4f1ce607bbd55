package contract

// Protocol flags of a bridge bot's session: how a bot plugin tells the
// host how its bot is doing, for `portico bot list`, `portico status` and
// @bots. The plugin sets them (sdk.BotStatus) and syncs them on every
// change; the host only reads them.
const (
	// FlagBotState is the bot's state: "connecting", "connected",
	// "resuming", "reconnecting", "stopped", or "failed: <reason>" (the
	// bot gave up until it is started again).
	FlagBotState = "BOT_STATE"
	// FlagBotStateSince is when the state began, in unix seconds.
	FlagBotStateSince = "BOT_STATE_SINCE"
	// FlagBotRetryAt is, while the state is "reconnecting", when the next
	// attempt is due, in unix seconds; 0 otherwise. The host shows
	// "reconnecting in N s" from it.
	FlagBotRetryAt = "BOT_RETRY_AT"
	// FlagBotError is the bot's last error (why its last connection ended
	// or failed); empty when nothing went wrong.
	FlagBotError = "BOT_ERROR"
	// FlagBotNetwork says what the bot bridges to ("network:port/#chan",
	// "discord 111,222").
	FlagBotNetwork = "BOT_NETWORK"
)

// Bot states every bridge bot plugin reports in FlagBotState (a plugin
// may add its own, such as IRC's "rejoining").
const (
	BotConnecting   = "connecting"
	BotConnected    = "connected"
	BotResuming     = "resuming"
	BotReconnecting = "reconnecting"
	BotStopped      = "stopped"
	// BotFailedPrefix starts the state of a bot that gave up: "failed:
	// authentication failed".
	BotFailedPrefix = "failed: "
)
