// Package sessions is the host's session layer: ServerSession, one per
// connection whatever its protocol, and ServerSessionHandler, which keeps
// them with Evennia's semantics (its ServerSessionHandler, sessionhandler.py),
// and the inputfuncs. The package never touches a client socket: plugins
// do, and the host's link adapter (core/plugins) carries their events here
// and this package's events (events.go) to them.
//
// # Ownership: one owner at a time, no locks in game code
//
// All handler state (the sessions, their accounts and puppets, throttles,
// bans, the inputfuncs) is touched only by the goroutine that holds the
// game's ownership, a mutex in the handler (before Run starts, the
// goroutine that builds the handler sets it up: LoadBans, LoadThrottles,
// the Set* methods). Two kinds of goroutine take it, one piece of work at
// a time: the handler's loop (Run), for work posted with Do or Call (the
// control socket, the plugin supervisors), timers and async continuations;
// and each plugin's link reader (Exec), which runs a batch of that
// plugin's input itself, so that a command costs no hand-off to another
// goroutine. Whichever goroutine runs it, game code — inputfuncs, commands,
// hooks, timers — has the game to itself and needs no locks; every handler
// method runs in an order, as in Evennia's reactor. Methods are to be
// called while holding the ownership (from game code, or in work posted to
// the loop) unless their doc says otherwise (Do, Call, Exec,
// StartBotSession, StopAsync and WaitAsync are called without it).
//
// Three rules keep this sound. Nothing blocks while holding the ownership:
// slow work (a password hash, an account's creation, a login-row write)
// runs off it (Async, the login writer) and posts its continuation back,
// as it did off the loop, and no code holding it waits for the loop
// (Call) or calls Exec.
// Work posted with Do may be overtaken by a reader's Exec, so work that
// must come before a plugin's input (PluginLaunched, PortalSessionsSync)
// is posted with Call, which waits for it. And once Run has ended, Exec
// refuses: nothing runs game code after the loop's last work. The only
// other locks guard the few things the goroutines without the ownership
// share with it: the in-flight counter, the login writer's queue and the
// bot starts.
//
// # Files
//
//   - handler.go: the handler type, its dependencies (Portals, Lifecycle,
//     CommandHandler, Settings) and its constructor.
//   - session.go: ServerSession.
//   - events.go: what the handler tells a plugin, as Go values.
//   - loop.go: the ownership and the loop (Run, Do, Call, Exec) and the
//     hashing pool (Async);
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
//   - input.go: data_in, get_inputfuncs, call_inputfuncs, and DataInThen,
//     which says when input is finished (for the link's acknowledgements);
//     inputfuncs.go holds the default inputfuncs.
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
