package sessions

// Bot sessions: Evennia's start_bot_session, and the rule that a session
// may arrive logged in only as the bot the host asked that plugin to start.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
)

// botStarts are the bot sessions the host has asked plugins to start. A
// session may arrive logged in as a bot's account only from the plugin
// asked to start that bot, once per start, and only as the session that
// plugin's StartBot named. The Connect may reach the host before StartBot's
// answer (a plugin connects the bot before returning): then the session is
// accepted on the pending start, and ended if StartBot then names another.
// It is shared by the loop and the goroutines that call StartBot.
type botStarts struct {
	mu sync.Mutex
	m  map[botKey][]*botStart
}

type botKey struct {
	plugin string
	uid    int64
}

type botStart struct {
	key botKey
	// returned is set once StartBot answered, with sessid.
	returned bool
	sessid   uint64
	// arrived is the session that came logged in as the bot, 0 until one did.
	arrived uint64
}

// maxBotStarts bounds the starts kept per bot whose session never came.
const maxBotStarts = 8

// begin records that plugin is being asked to start bot account uid.
func (b *botStarts) begin(plugin string, uid int64) *botStart {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[botKey][]*botStart{}
	}
	st := &botStart{key: botKey{plugin: plugin, uid: uid}}
	list := append(b.m[st.key], st)
	if len(list) > maxBotStarts {
		list = list[len(list)-maxBotStarts:]
	}
	b.m[st.key] = list
	return st
}

func (b *botStarts) removeLocked(st *botStart) {
	list := b.m[st.key]
	for i, x := range list {
		if x == st {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(b.m, st.key)
	} else {
		b.m[st.key] = list
	}
}

// end records StartBot's answer. It returns the id of a session that came
// as the bot but is not the bot's (StartBot named another, or failed), for
// the caller to end; 0 if there is none.
func (b *botStarts) end(st *botStart, sessid uint64, err error) (stray uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.removeLocked(st)
		return st.arrived
	}
	st.returned, st.sessid = true, sessid
	if st.arrived == 0 {
		return 0 // kept until its session arrives
	}
	b.removeLocked(st)
	if st.arrived != sessid {
		return st.arrived
	}
	return 0
}

// claim reports whether session sessid of plugin may arrive logged in as
// bot account uid, and if so uses up the start it came for.
func (b *botStarts) claim(plugin string, uid int64, sessid uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	list := b.m[botKey{plugin: plugin, uid: uid}]
	var pick *botStart
	// The start whose StartBot named this session; else the oldest start
	// still waiting for StartBot's answer.
	for _, st := range list {
		if st.arrived == 0 && st.returned && st.sessid == sessid {
			pick = st
			break
		}
	}
	if pick == nil {
		for _, st := range list {
			if st.arrived == 0 && !st.returned {
				pick = st
				break
			}
		}
	}
	if pick == nil {
		return false
	}
	pick.arrived = sessid
	if pick.returned {
		b.removeLocked(pick)
	}
	return true
}

// forgetPlugin drops the answered starts of plugin: their sessions died
// with it. Starts still waiting for StartBot stay with their caller.
func (b *botStarts) forgetPlugin(plugin string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, list := range b.m {
		if k.plugin != plugin {
			continue
		}
		for _, st := range list {
			if st.returned {
				b.removeLocked(st)
			}
		}
	}
}

// botUID is the bot account a start_bot_session config names ("uid", set
// by the host), or 0.
func botUID(config map[string]any) int64 {
	switch v := config["uid"].(type) {
	case int64:
		return v
	case int:
		return int64(v)
	case float64:
		if v == math.Trunc(v) && v > 0 && v < math.MaxInt64 {
			return int64(v)
		}
	}
	return 0
}

// checkBotClaim returns why session sessid of plugin may not arrive logged
// in as account uid, or "" when it may (it is the bot the host started).
func (h *ServerSessionHandler) checkBotClaim(plugin string, sessid uint64, uid int64) string {
	switch {
	case uid <= 0:
		return "no account"
	case h.trustLogin == nil || !h.trustLogin(plugin, uid):
		return "not a bot account"
	case !h.bots.claim(plugin, uid, sessid):
		return "no bot of this account was started on this plugin as this session"
	}
	return ""
}

// endStrayBot ends session sessid of plugin, which came logged in as bot
// account uid under a start whose StartBot named another session (want) or
// failed (want 0).
func (h *ServerSessionHandler) endStrayBot(plugin string, sessid uint64, uid int64, want uint64) {
	s := h.sessions[sessid]
	if s == nil || s.Plugin != plugin || s.UID != uid {
		return
	}
	reason := "the bot's start failed"
	if want != 0 {
		reason = fmt.Sprintf("StartBot named session %d", want)
	}
	h.log.Warn("refused login claim", "plugin", plugin, "sessid", sessid, "uid", uid, "puid", s.PUID,
		"uname", s.UName, "reason", reason)
	h.Disconnect(s, ReasonRefusedClaim, true)
}

// StartBotSession is Evennia's start_bot_session (SCONN): the plugin serving
// protocol is given the config dict and connects the bot, which arrives
// through PortalConnect. config["uid"], set by the host, names the
// bot's account: the bot's session may arrive logged in as it, from this
// plugin, as the session StartBot names (see botStarts). It is called off
// the loop.
func (h *ServerSessionHandler) StartBotSession(ctx context.Context, protocol string, config map[string]any) (uint64, error) {
	if h.portals == nil {
		return 0, errors.New("sessions: start bot: no plugins")
	}
	plugin, ok := h.portals.PluginFor(protocol)
	if !ok {
		return 0, fmt.Errorf("sessions: start bot on %q: no running plugin serves it", protocol)
	}
	// Recorded before asking: the bot's Connect may arrive first.
	uid := botUID(config)
	var start *botStart
	if uid > 0 {
		start = h.bots.begin(plugin, uid)
	}
	id, err := h.portals.StartBot(ctx, plugin, config)
	if start != nil {
		if stray := h.bots.end(start, id, err); stray != 0 {
			want := id
			if err != nil {
				want = 0
			}
			h.Do(func() { h.endStrayBot(plugin, stray, uid, want) })
		}
	}
	if err != nil {
		return 0, fmt.Errorf("sessions: start bot on %q: %w", protocol, err)
	}
	return id, nil
}

func isBot(s *ServerSession) bool {
	b, _ := s.ServerData["bot"].(bool)
	return b
}
