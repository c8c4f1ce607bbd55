package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

// Messages of the unlogged-in commands, Evennia's where it has them.
const (
	MsgGoodbye      = "Good bye! Disconnecting."
	MsgPasswordAsk  = "Password: "
	MsgConnectUsage = "Usage (without <>): connect <name> <password>"
	MsgCreateUsage  = "Usage (without <>): create <name> <password>"
)

// ConnectionScreen is shown on connect and by look before login; %s is the
// server's name.
const ConnectionScreen = `==============================================================
 Welcome to %s!

 If you have an existing account, connect to it by typing:
      connect <username> <password>
 If you need to create an account, type (without the <>'s):
      create <username> <password>

 If you have spaces in your username, enclose it in quotes.
 Enter help for more info. look will re-show this screen.
==============================================================`

const unloggedInHelp = `You are not yet logged into the game. Commands available at this point:

  create - create a new account
  connect - connect with an existing account
  look - re-show the connection screen
  who - see who is online%s
  help - show this help
  quit - abort the connection

First create an account e.g. with create Anna c67jHL8p
(If you have spaces in your name, use double quotes: create "Anna the Barbarian" c67jHL8p)
Next you can connect to the game: connect Anna c67jHL8p

You can also type connect Anna or create Anna alone: the password is then
asked for and not shown as you type it.`

// UnloggedInSet is the command set of a session that has not logged in.
func UnloggedInSet() *Set {
	return NewSet(sessions.CmdsetUnloggedIn,
		&Command{Key: "connect", Aliases: []string{"conn", "con", "co"}, Help: "connect <name> <password>\n\nLog in to an existing account.", Func: cmdConnect},
		&Command{Key: "create", Aliases: []string{"cre", "cr"}, Help: "create <name> <password>\n\nCreate a new account.", Func: cmdCreate},
		&Command{Key: "look", Aliases: []string{"l"}, Help: "look\n\nShow the connection screen.", Func: cmdUnloggedInLook},
		&Command{Key: "help", Aliases: []string{"h", "?"}, Help: "help\n\nShow what you can do now.", Func: cmdUnloggedInHelp},
		whoCommand(cmdUnloggedInWho),
		&Command{Key: "quit", Aliases: []string{"q", "qu"}, Help: "quit\n\nClose the connection.", Func: func(c *Call) {
			c.H.Disconnect(c.S, MsgGoodbye, true)
		}},
		pingCommand(),
	)
}

// MsgWhoAfterLogin answers `who` before login when
// server.who_before_login is off: the list of accounts online is for
// players, not for anyone who connects.
const MsgWhoAfterLogin = "You can see who is online once you have logged in."

func cmdUnloggedInWho(c *Call) {
	if !whoBeforeLogin(c) {
		return
	}
	cmdWho(c)
}

// whoBeforeLogin reports whether who may list the accounts to c's session
// before login, and tells the player why not when it may not.
func whoBeforeLogin(c *Call) bool {
	if !c.H.Settings().WhoBeforeLogin {
		c.Msg(MsgWhoAfterLogin)
		return false
	}
	return true
}

func cmdUnloggedInHelp(c *Call) {
	note := ""
	if !c.H.Settings().WhoBeforeLogin {
		note = " (once logged in)"
	}
	c.Msg(fmt.Sprintf(unloggedInHelp, note))
}

func cmdUnloggedInLook(c *Call) {
	if c.commands != nil && c.commands.ConnectScreen != nil {
		c.Msg(c.commands.ConnectScreen(c.S))
		return
	}
	c.Msg(fmt.Sprintf(ConnectionScreen, c.H.Settings().ServerName))
}

// askPassword asks for a password with echo off and calls then with it.
func askPassword(c *Call, then func(s *sessions.ServerSession, password string)) {
	c.S.Send(contract.Message{Name: "prompt", Args: []any{MsgPasswordAsk}, Kwargs: map[string]any{
		"options": map[string]any{"echo": false}}})
	c.S.Prompted = func(s *sessions.ServerSession, password string) {
		// Echo back on; the client did not echo the Enter either. Then an
		// empty prompt: a client that shows the last prompt apart
		// (Evennia's webclient, in its prompt bar) would keep showing
		// "Password:" after the login.
		s.Send(contract.Message{Name: "text", Args: []any{""}, Kwargs: map[string]any{
			"options": map[string]any{"echo": true}}},
			contract.Message{Name: "prompt", Args: []any{""}})
		then(s, password)
	}
}

func cmdConnect(c *Call) {
	name, password, ok := splitNamePassword(c.Args)
	if !ok {
		c.Msg(MsgConnectUsage)
		return
	}
	if password == "" {
		// The name first: a login the throttles refuse is told so before
		// anyone types a password for nothing.
		if c.H.Throttled(sessions.ThrottleLogin, c.S, strings.TrimSpace(name)) {
			c.H.Log().Warn("login throttled", "name", name, "address", c.S.Address)
			c.H.Meter().Login(sessions.LoginThrottled)
			c.H.Meter().Throttled(sessions.ThrottleLogin)
			c.Msg(sessions.MsgLoginThrottled)
			return
		}
		askPassword(c, func(s *sessions.ServerSession, password string) {
			c.H.LoginWithPassword(s, name, password)
		})
		return
	}
	c.H.LoginWithPassword(c.S, name, password)
}

func cmdCreate(c *Call) {
	name, password, ok := splitNamePassword(c.Args)
	if !ok {
		c.Msg(MsgCreateUsage)
		return
	}
	h, s := c.H, c.S
	// The cheap count of attempts first; then the name, so that a taken
	// or reserved one is told so before the limit on accounts made.
	if !createAttemptAllowed(h, s) || !nameAvailable(h, s, name) || !createAllowed(h, s) {
		return
	}
	if password == "" {
		askPassword(c, func(s *sessions.ServerSession, password string) {
			// The name may have been taken while the password was typed;
			// the store checks again when it writes.
			createAccount(h, s, name, password)
		})
		return
	}
	createAccount(h, s, name, password)
}

// createAttemptAllowed counts a `create` against limits.create_attempts
// and reports whether this one may go on: checked first, before anything
// costly, whatever the outcome will be. Attempts refused here are not
// counted, so a client that stops is let in again once the window passes.
func createAttemptAllowed(h *sessions.ServerSessionHandler, s *sessions.ServerSession) bool {
	if h.Throttled(sessions.ThrottleCreateAttempt, s, "") {
		h.Log().Warn("account creation attempts throttled", "address", s.Address)
		h.Meter().Throttled(sessions.ThrottleCreateAttempt)
		s.Msg(sessions.MsgCreateAttempts)
		return false
	}
	h.ThrottleHit(sessions.ThrottleCreateAttempt, s, "")
	return true
}

// createAllowed reports whether the address may make another account
// (limits.account_creations), telling the player when not.
func createAllowed(h *sessions.ServerSessionHandler, s *sessions.ServerSession) bool {
	if h.Throttled(sessions.ThrottleCreate, s, "") {
		h.Log().Warn("account creation throttled", "address", s.Address)
		h.Meter().Throttled(sessions.ThrottleCreate)
		s.Msg(sessions.MsgCreateThrottled)
		return false
	}
	return true
}

// nameAvailable checks a new account's name, cheaply and before any
// hashing: valid, not reserved, not taken. It tells the player why not.
// Saying that a name is taken is what `create` must do; the limit on
// attempts bounds how fast names can be probed this way.
func nameAvailable(h *sessions.ServerSessionHandler, s *sessions.ServerSession, name string) bool {
	if reservedName(name) {
		s.Msg(fmt.Sprintf("The name '%s' is reserved. Please choose another.", name))
		return false
	}
	if err := store.ValidateName(name); err != nil {
		s.Msg(userError(err))
		return false
	}
	taken, err := h.Store().NameTaken(h.Context(), name)
	if err != nil {
		h.Log().Error("create account: name check", "name", name, "err", err)
		s.Msg(msgCreateError)
		return false
	}
	if taken {
		s.Msg(fmt.Sprintf(msgNameTaken, name))
		return false
	}
	return true
}

const (
	msgNameTaken   = "Sorry, there is already an account with the name '%s'."
	msgCreateError = "There was an error creating the account. Please try again later."
)

// createAccount creates the account off the loop (the hash is slow), once
// the name has passed nameAvailable and the password the policy. Only the
// CLI makes admins: an account created here never is one.
func createAccount(h *sessions.ServerSessionHandler, s *sessions.ServerSession, name, password string) {
	if min := h.Settings().Limits.PasswordMinLength; min > 0 && utf8.RuneCountInString(password) < min {
		s.Msg(fmt.Sprintf("This password is too short. It must contain at least %d characters.", min))
		return
	}
	if err := store.ValidatePassword(password); err != nil {
		s.Msg(userError(err))
		return
	}
	h.Async(s, func() func() {
		acc, err := h.Store().CreateAccount(context.Background(), name, password, false)
		return func() {
			switch {
			case err == nil:
				h.ThrottleHit(sessions.ThrottleCreate, s, "")
				h.Meter().AccountCreated()
				h.Log().Info("account created", "account", acc.Name, "address", s.Address)
				connect := acc.Name
				if strings.Contains(connect, " ") {
					connect = `"` + connect + `"`
				}
				s.Msg(fmt.Sprintf("A new account '%s' was created. Welcome!\n\nYou can now log in with the command 'connect %s <your password>'.", acc.Name, connect))
			case errors.Is(err, store.ErrNameTaken):
				s.Msg(fmt.Sprintf(msgNameTaken, name))
			case errors.Is(err, store.ErrInvalidName), errors.Is(err, store.ErrInvalidPassword):
				s.Msg(userError(err))
			default:
				h.Log().Error("create account", "name", name, "err", err)
				s.Msg(msgCreateError)
			}
		}
	})
}

// userError turns a store validation error into a sentence for the player,
// without the "store: ..." context meant for logs.
func userError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	if msg == "" {
		return "That did not work."
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

// reservedNames cannot be taken over the network: they would let a player
// pass for staff or for the server itself. The CLI may still create them.
var reservedNames = map[string]bool{"admin": true, "administrator": true, "root": true, "system": true,
	"server": true, "portico": true, "evennia": true, "staff": true, "moderator": true, "support": true,
	"nobody": true, "everyone": true, "all": true, "here": true, "me": true, "self": true}

func reservedName(name string) bool { return reservedNames[strings.ToLower(strings.TrimSpace(name))] }
