package commands

import (
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/sdk/contract"
)

// The webclient's typing indicator, as Evennia's is_typing module serves
// it: once logged in, Evennia's webclient asks is_typing_setup and is
// answered is_typing {type: setup, payload: {live_report_keywords,
// typing_timeout}}; while the player types a line that starts with one of
// the keywords it sends is_typing_state {state: true|false}, and everyone
// else who would hear it (here: every other character in the game, all in
// one room) gets is_typing {type: typing, payload: {name, state}}. A
// session whose ISTYPING flag is false neither reports nor is told.

// typingTimeoutMS is how long a client shows "X is typing" without news
// (Evennia's WEBCLIENT_TYPING_TIMEOUT, 5 s).
const typingTimeoutMS = 5000

// flagIsTyping is the protocol flag a client turns the indicator off with.
const flagIsTyping = contract.FlagIsTyping

// registerTyping adds the two inputfuncs.
func (ch *Handler) registerTyping() {
	ch.handler.RegisterInputfunc("is_typing_setup", sessions.Inputfunc{Func: ch.isTypingSetup,
		Doc: "The typing indicator's set-up: the commands whose typing is reported, and the timeout."})
	ch.handler.RegisterInputfunc("is_typing_state", sessions.Inputfunc{Func: ch.isTypingState,
		Doc: "The player started (state=True) or stopped typing such a command."})
}

// typingOn reports whether s takes part in the typing indicator: it plays
// a character and has not turned the indicator off.
func typingOn(s *sessions.ServerSession) bool {
	if s.Puppet == nil {
		return false
	}
	on, set := s.ProtocolFlags.Value(flagIsTyping).(bool)
	return !set || on
}

func (ch *Handler) isTypingSetup(_ *sessions.ServerSessionHandler, s *sessions.ServerSession, _ []any, _ map[string]any) {
	if !typingOn(s) {
		return
	}
	keywords := []any{}
	for _, cmd := range ch.Account.Commands() {
		if !cmd.ReportsTyping {
			continue
		}
		keywords = append(keywords, cmd.Key)
		for _, a := range cmd.Aliases {
			keywords = append(keywords, a)
		}
	}
	s.Send(contract.Message{Name: "is_typing", Kwargs: map[string]any{"type": "setup",
		"payload": map[string]any{"live_report_keywords": keywords, "typing_timeout": typingTimeoutMS}}})
}

func (ch *Handler) isTypingState(h *sessions.ServerSessionHandler, s *sessions.ServerSession, _ []any, kwargs map[string]any) {
	if !typingOn(s) {
		return
	}
	state, _ := kwargs["state"].(bool)
	var audience []*sessions.ServerSession
	for _, o := range h.Sessions() {
		if o.LoggedIn && typingOn(o) && o.Puppet.ID != s.Puppet.ID {
			audience = append(audience, o)
		}
	}
	if len(audience) == 0 {
		return
	}
	h.Broadcast(audience, contract.Message{Name: "is_typing", Kwargs: map[string]any{"type": "typing",
		"payload": map[string]any{"name": s.Puppet.Name, "state": state}}})
}
