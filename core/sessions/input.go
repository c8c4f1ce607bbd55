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

// GetInputfuncs is Evennia's get_inputfuncs: the registered inputfuncs by
// name. The map is the handler's own: change it with RegisterInputfunc.
func (h *ServerSessionHandler) GetInputfuncs() map[string]Inputfunc { return h.inputfuncs }

// CallInputfuncs is Evennia's call_inputfuncs: it runs each message's
// inputfunc. The name is trimmed and lower-cased, options are popped,
// unknown names go to `default`. While the session waits on an async
// operation the input is held, in order.
func (h *ServerSessionHandler) CallInputfuncs(s *ServerSession, msgs []contract.Message) {
	if s.busy > 0 {
		if len(s.held) < maxHeld {
			s.held = append(s.held, msgs)
		}
		return
	}
	for i, m := range msgs {
		if s.busy > 0 {
			// The rest of this batch goes before input held meanwhile
			// (this batch may itself be held input being released).
			s.held = append([][]contract.Message{msgs[i:]}, s.held...)
			return
		}
		if h.sessions[s.Sessid] != s {
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
