package main

import (
	"github.com/portico-mud/portico/core/attrs"
	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/core/sessions"
)

// stockGame is what the stock game adds to the host's defaults, through
// the same options any game has.
func stockGame() []host.Option {
	return []host.Option{host.WithInputfunc(webclientOptionsKey, webclientOptions())}
}

// webclientOptionsKey names the webclient's options: the inputfunc, and
// the account attribute they are kept in.
const webclientOptionsKey = "webclient_options"

// webclientOptions is the webclient_options inputfunc keeping the options
// as Evennia does, on the account (its _saved_webclient_options): a
// player's webclient settings follow them to every browser they log in
// from, and survive a logout, a reload and a restart. Before login they
// are the session's, as the default inputfunc keeps them; the default one
// does the work, on the session's copy, loaded from the account first and
// saved back after a change.
func webclientOptions() sessions.Inputfunc {
	base := sessions.DefaultInputfuncs()[webclientOptionsKey]
	return sessions.Inputfunc{
		Doc: base.Doc + " Kept on the account once logged in.",
		Func: func(h *sessions.ServerSessionHandler, s *sessions.ServerSession, args []any, kwargs map[string]any) {
			if !s.LoggedIn || s.Account == nil || h.Attrs() == nil {
				base.Func(h, s, args, kwargs)
				return
			}
			owner := attrs.Account(s.Account.ID)
			var saved map[string]any
			if ok, err := h.Attrs().Get(owner, webclientOptionsKey, &saved); err != nil {
				h.Log().Error("webclient options of account", "account", s.Account.Name, "err", err)
			} else if ok {
				s.ServerData[webclientOptionsKey] = saved
			}
			base.Func(h, s, args, kwargs)
			changed := false
			for k := range kwargs {
				changed = changed || k != "cmdid"
			}
			if !changed {
				return
			}
			if err := h.Attrs().Set(owner, webclientOptionsKey, s.ServerData[webclientOptionsKey]); err != nil {
				h.Log().Error("save webclient options of account", "account", s.Account.Name, "err", err)
			}
		},
	}
}
