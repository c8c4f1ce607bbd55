// Package host is Portico's host, and the API a game is built on.
//
// The host puts config, store, session handler, commands, plugin manager
// and control socket together with one lifecycle (Run), and gives it a
// command line (Main): start, stop, reload, reset, status, sessions,
// announce, account, bot and config check. cmd/host, the stock `portico`
// binary, is one call to Main.
//
// # A game
//
// A game is a Go main package, in its own module, that calls Main with its
// Options:
//
//	func main() {
//		host.Main(
//			host.WithGameConfig(&settings),
//			host.WithCommand(&commands.Command{Key: "go", Func: move}),
//			host.OnStart(seedWorld),
//			host.OnLogin(placeCharacter),
//			host.OnDisconnect(sayGoodbye),
//			host.WithInputfunc("room_info", roomInfoRequest),
//			host.WithConnectScreen(banner),
//		)
//	}
//
// Main gives the game's binary the whole command line because `portico
// reload` re-executes the running binary, which is then the game's own:
// build a new one and reload, and every player stays connected while the
// new code takes over. The default commands stay unless the game replaces
// (WithCommand, WithCommands) or removes (WithoutCommand) them. A game's
// commands get the same commands.Call the defaults do: the caller's
// session (its account and puppet), Msg, and the session handler with its
// lookups and broadcasts.
//
// # Game code owns the game state
//
// Game code runs with exclusive ownership of the game state and needs no
// locks, whichever goroutine runs it. That is the guarantee: commands,
// inputfuncs, the hooks (OnStart, OnLogin, OnDisconnect, the connect
// screen) and timers made with the handler's After and Every never run at
// the same time as one another or as the host's own session handling, and
// each sees everything the ones before it did. Keep the game's state in
// plain Go maps and structs. (Today one loop goroutine runs all of it, the
// session handler's; that mechanism may change without breaking games.)
// What a game must not do is hand that state to a goroutine of its own:
// work started with `go` is outside the guarantee. Slow work (a password
// hash) goes through the handler's Async, whose continuation runs inside
// it again. Game code must not block for long either: every player waits
// meanwhile.
//
// A panic in game code is logged and does not stop the host.
//
// # Persistent state
//
// The handler's Attrs is the game's attribute store (package core/attrs):
// key → JSON value on an account, a character, or any owner the game names
// (a room). It answers from memory and writes in the background, so game
// code may use it freely; see that package for what a crash can cost.
//
// # Settings
//
// WithGameConfig registers a struct for the game: block of config.yaml,
// decoded strictly (an unknown key is an error naming it) before anything
// starts, overridden by PORTICO_GAME_<KEY> variables, and shown by
// `portico config check`. A change to the block takes a reload.
//
// # Testing a game
//
// Package core/host/hosttest runs a game's options in-process, with
// players that type commands and read what they are sent, and no plugin.
// End-to-end, a game's tests build its binary and the plugins and drive
// real clients (see examples/tiny-game).
package host
