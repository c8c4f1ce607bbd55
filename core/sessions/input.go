package sessions

// Input from clients: Evennia's data_in and call_inputfuncs, and the
// registry of inputfuncs (the defaults are in inputfuncs.go).

import (
	"fmt"

	"github.com/portico-mud/portico/sdk/contract"
)

// RegisterInputfunc adds or replaces an inputfunc (later ones override
// earlier ones, as Evennia's INPUT_FUNC_MODULES).
func (h *ServerSessionHandler) RegisterInputfunc(name string, f Inputfunc) {
	h.inputfuncs[normaliseInputfuncName(name)] = f
}

// DataIn is Evennia's data_in: input from a plugin for session sessid goes
// to the session's inputfuncs (CallInputfuncs). Input for a session of
// another plugin is ignored.
func (h *ServerSessionHandler) DataIn(plugin string, sessid uint64, msgs []contract.Message) {
	s := h.sessions[sessid]
	if s == nil || s.Plugin != plugin {
		return
	}
	s.DataIn(msgs...)
}

// DataInThen is DataIn that says when the input is finished: finished runs,
// holding the game's ownership, once the input has run and every async
// operation its session then waited on has come back to the loop (a
// password check, an account's creation, the login's row write), or once
// the input was dropped (no such session of plugin, the session ended, or
// it held more input than it may). It runs at once, before DataInThen
// returns, when the input needs nothing more.
//
// What "finished" promises is what a plugin's input acknowledgement needs
// (the link adapter acknowledges input by it): whatever the input wrote
// through the handler's ordered paths is durable by then. An account's
// creation commits inside its Async work, before the continuation that
// logs the player in is posted; the login's row is written by the ordered
// login writer, and the session waits on it (busy) until it is durable;
// store writes game code makes while holding the ownership are done when
// it returns. What it does not promise: work a game starts on its own
// goroutines, or a store that writes behind (a write-back cache), may
// still be under way; such a game must say so to its players itself.
func (h *ServerSessionHandler) DataInThen(plugin string, sessid uint64, msgs []contract.Message, finished func()) {
	s := h.sessions[sessid]
	if s == nil || s.Plugin != plugin {
		finished()
		return
	}
	h.callInputfuncs(s, msgs, finished)
}

// GetInputfuncs is Evennia's get_inputfuncs: the registered inputfuncs by
// name. The map is the handler's own: change it with RegisterInputfunc.
func (h *ServerSessionHandler) GetInputfuncs() map[string]Inputfunc { return h.inputfuncs }

// CallInputfuncs is Evennia's call_inputfuncs: it runs each message's
// inputfunc. The name is trimmed and lower-cased, options are popped,
// unknown names go to `default`. While the session waits on an async
// operation the input is held, in order.
func (h *ServerSessionHandler) CallInputfuncs(s *ServerSession, msgs []contract.Message) {
	h.callInputfuncs(s, msgs, nil)
}

// heldInput is input held while its session waits, with its finish
// callback (nil when nobody asked).
type heldInput struct {
	msgs     []contract.Message
	finished func()
}

// callInputfuncs is CallInputfuncs that runs finished (when not nil) once
// the input is finished (see DataInThen).
func (h *ServerSessionHandler) callInputfuncs(s *ServerSession, msgs []contract.Message, finished func()) {
	if s.busy > 0 {
		if len(s.held) < maxHeld {
			s.held = append(s.held, heldInput{msgs: msgs, finished: finished})
		} else {
			runFinished(finished)
		}
		return
	}
	for i, m := range msgs {
		if s.busy > 0 {
			// The rest of this batch goes before input held meanwhile
			// (this batch may itself be held input being released).
			s.held = append([]heldInput{{msgs: msgs[i:], finished: finished}}, s.held...)
			return
		}
		if h.sessions[s.Sessid] != s {
			runFinished(finished)
			return
		}
		if !h.allowCommand(s) {
			h.Meter().Throttled(ThrottleCommandRate)
			// Dropped, as Evennia does; told once per burst.
			if !s.rateWarned {
				s.rateWarned = true
				s.Msg(MsgCommandRate)
			}
			continue
		}
		s.rateWarned = false
		name := normaliseInputfuncName(m.Name)
		kwargs := m.Kwargs
		if _, ok := kwargs["options"]; ok {
			kwargs = contract.WithoutOptions(kwargs)
		}
		f, ok := h.inputfuncs[name]
		args := m.Args
		if !ok {
			f = h.inputfuncs["default"]
			args = append([]any{name}, m.Args...)
		}
		h.callInputfunc(f, s, name, args, kwargs)
	}
	// What the input changed, its client is told of (the values it
	// watches).
	h.CheckMonitors(s)
	if s.busy > 0 && h.sessions[s.Sessid] == s && finished != nil {
		// The input started what the session now waits on: it is
		// finished when that comes back (release).
		s.waiting = append(s.waiting, finished)
		return
	}
	runFinished(finished)
}

// runFinished runs a finish callback, if there is one.
func runFinished(f func()) {
	if f != nil {
		f()
	}
}

// dropInput ends what s holds and waits for when it leaves: its held input
// will never run and its async work no longer matters to it, so every
// finish callback runs now.
func (s *ServerSession) dropInput() {
	held, waiting := s.held, s.waiting
	s.held, s.waiting = nil, nil
	for _, f := range waiting {
		f()
	}
	for _, in := range held {
		runFinished(in.finished)
	}
}

// maxHeld bounds input held while a session waits.
const maxHeld = 256

func (h *ServerSessionHandler) callInputfunc(f Inputfunc, s *ServerSession, name string, args []any, kwargs map[string]any) {
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("inputfunc panicked", "inputfunc", name, "sessid", s.Sessid, "panic", r)
			if s.FlagBool(contract.FlagInputDebug) {
				s.Msg(fmt.Sprintf("Inputfunc %s failed: %v", name, r))
			}
		}
	}()
	f.Func(h, s, args, kwargs)
}
