// Package sessions is the host's session layer: ServerSession, one per
// connection whatever its protocol, and ServerSessionHandler, which keeps
// them with Evennia's semantics (its ServerSessionHandler, sessionhandler.py),
// and the inputfuncs. The package never touches a client socket: plugins
// do, and the host's link adapter (core/plugins) carries their events here
// and this package's events (events.go) to them.
//
// # Ownership: one loop, no locks
//
// All handler state (the sessions, their accounts and puppets, throttles,
// bans, the inputfuncs) is touched only on the handler's loop, the
// goroutine that runs Run (before Run starts, the goroutine that builds
// the handler sets it up: LoadBans, LoadThrottles, the Set* methods).
// Plugin links, the control socket and timers hand the loop work with Do
// or Call, so every handler method runs in order, as in Evennia's reactor,
// and nothing here needs a lock. Methods are to be called on the loop
// unless their doc says otherwise (Do, Call, StartBotSession, StopAsync
// and WaitAsync are called off it). Slow work (a password hash,
// a login-row write) runs off the loop (Async, the login writer) and
// posts its continuation back to it. The only locks guard the few things
// the off-loop goroutines share with the loop: the in-flight counter, the
// login writer's queue and the bot starts.
//
// # Files
//
//   - handler.go: the handler type, its dependencies (Portals, Lifecycle,
//     CommandHandler, Settings) and its constructor.
//   - session.go: ServerSession.
//   - events.go: what the handler tells a plugin, as Go values.
//   - loop.go: the actor loop (Run, Do, Call) and the hashing pool (Async);
//     hashqueue.go is the pool's queue, fair between client networks.
//   - portal.go: what arrives from plugins (portal_connect,
//     portal_session_sync, portal_sessions_sync, portal_disconnect,
//     portal_disconnect_all).
//   - login.go: login, at_post_login and the password login.
//   - loginrows.go: the saved login rows, the host's proof of who is
//     logged in, and their ordered writer.
//   - puppet.go: puppeting and unpuppeting characters.
//   - disconnect.go: disconnect, disconnect_duplicate_sessions,
//     disconnect_all_sessions, validate_sessions (the idle check).
//   - sync.go: all_sessions_portal_sync, session_portal_sync,
//     session_portal_partial_sync, get_all_sync_data.
//   - lookups.go: get, get_sessions, account_count, all_connected_accounts,
//     session_from_sessid, session_from_account, sessions_from_account,
//     sessions_from_puppet, sessions_from_character, sessions_from_csessid.
//   - output.go: data_out, clean_senddata, announce_all and broadcasts.
//   - input.go: data_in, get_inputfuncs, call_inputfuncs; inputfuncs.go
//     holds the default inputfuncs.
//   - monitors.go: the values clients may get and watch (registered with
//     RegisterMonitorable; Evennia's MonitorHandler), and
//     inputfuncs_monitor.go their inputfuncs: get_value, monitor,
//     unmonitor, monitored and MSDP's msdp_list, msdp_report,
//     msdp_unreport, msdp_reset and msdp_send.
//   - bots.go: start_bot_session and which bot logins are accepted.
//   - lifecycle.go: portal_restart_server, portal_reset_server,
//     portal_shutdown.
//   - limits.go: the login and creation throttles and the command rate;
//     bans.go: bans and boot.
//
// # What it must not import
//
// The package deals in Go types only (sdk/contract's messages and session
// data, the events of events.go): it must not import sdk/portalpb,
// sdk/wire, protobuf or gRPC, which belong to the link adapters.
// cmd/host/imports_test.go enforces it with go list -deps.
package sessions
