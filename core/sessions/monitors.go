package sessions

// Monitored values: what a client may read (get_value, MSDP SEND) and
// watch (the monitor inputfunc, GMCP Char.Monitor.Update, MSDP REPORT),
// being told whenever it changes. Evennia keeps the watches in its
// MonitorHandler, on database fields; here a value is whatever a
// registered function computes for a session, and the handler compares
// it with what the client was last told at the points where it can
// change: after each batch of the session's input, after a sync from its
// plugin, after its login, after another session took its character over,
// and whenever the game says so (MonitorChanged, CheckMonitors).
//
// The watches live in the session's server data too (watchesKey), which
// its plugin keeps: a reload, or a host started again after a crash,
// gets them back with the session (Evennia saves its MonitorHandler
// across a reload for the same reason).

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/portico-mud/portico/sdk/contract"
)

// Monitorable is a value of a session that clients may get and watch. A
// game registers its own (hit points, the room's name) with
// RegisterMonitorable, as the stock values are.
type Monitorable struct {
	// Doc says what the value is.
	Doc string
	// Value returns the value for session s, JSON-shaped (a string, a
	// number, a bool, or lists and maps of them); ok is false when s has
	// none now (not logged in, no character). It runs on the loop and
	// must be cheap: it runs whenever the value may have changed.
	Value func(s *ServerSession) (value any, ok bool)
}

// monitorOutputfunc is the outputfunc a `monitor` watch answers with by
// default (Evennia's): monitor(name=..., value=...), which GMCP sends as
// Char.Monitor.Update.
const monitorOutputfunc = "monitor"

// maxMonitorsPerSession bounds the watches one client may hold.
const maxMonitorsPerSession = 64

// watchesKey is where a session's server data keeps its watches, as a
// list of [name, outputfunc] pairs (JSON-shaped, as the Link carries it).
const watchesKey = "monitors"

// watch is one value a session watches.
type watch struct {
	// name is the value's registered name.
	name string
	// outputfunc is the outputfunc that carries the value for a
	// `monitor` watch; "" marks an MSDP report, which is sent as the
	// variable itself (VAR NAME VAL value).
	outputfunc string
	// last is the value the client was last told (ok false: none).
	last   any
	lastOK bool
}

// defaultMonitorables are the values every session has. location has no
// value until a game registers its own (the stock game does, in
// core/commands).
func defaultMonitorables() map[string]Monitorable {
	name := Monitorable{Doc: "The character's name, or the account's when the session plays none.",
		Value: func(s *ServerSession) (any, bool) {
			switch {
			case s.Puppet != nil:
				return s.Puppet.Name, true
			case s.Account != nil:
				return s.Account.Name, true
			}
			return nil, false
		}}
	flag := func(doc, flag string) Monitorable {
		return Monitorable{Doc: doc, Value: func(s *ServerSession) (any, bool) {
			return s.ProtocolFlags.Get(flag)
		}}
	}
	return map[string]Monitorable{
		"name":           name,
		"key":            name,
		"character_name": name,
		"account": {Doc: "The account's name.", Value: func(s *ServerSession) (any, bool) {
			if s.Account == nil {
				return nil, false
			}
			return s.Account.Name, true
		}},
		"character": {Doc: "The character the session plays.", Value: func(s *ServerSession) (any, bool) {
			if s.Puppet == nil {
				return nil, false
			}
			return s.Puppet.Name, true
		}},
		"location": {Doc: "Where the character is: the game registers it (the stock game's Limbo); none here.",
			Value: func(*ServerSession) (any, bool) { return nil, false }},
		"servername": {Doc: "The server's name.", Value: func(s *ServerSession) (any, bool) {
			return s.handler.settings.ServerName, true
		}},
		"client_name":   flag("The client's name and version, as it said.", contract.FlagClientName),
		"screen_width":  flag("The client's screen width in characters.", contract.FlagScreenWidth),
		"screen_height": flag("The client's screen height in lines.", contract.FlagScreenHeight),
	}
}

// RegisterMonitorable adds or replaces the value called name (letter case
// does not matter; it is kept lower case), which clients may then get
// (get_value, MSDP SEND) and watch (monitor, GMCP Char.Monitor.Update, MSDP
// REPORT). Call it before Run, or on the loop.
func (h *ServerSessionHandler) RegisterMonitorable(name string, m Monitorable) error {
	key := strings.ToLower(strings.TrimSpace(name))
	switch {
	case key == "" || len(key) > 64 || strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("sessions: register monitorable %q: a name is 1 to 64 characters without spaces", name)
	case m.Value == nil:
		return fmt.Errorf("sessions: register monitorable %q: no Value function", name)
	}
	h.monitorables[key] = m
	return nil
}

// Monitorables returns the names of the values clients may get and watch,
// sorted.
func (h *ServerSessionHandler) Monitorables() []string { return sortedKeys(h.monitorables) }

// MonitorValue returns value name of session s; ok is false when there is
// no such value or s has none now.
func (h *ServerSessionHandler) MonitorValue(s *ServerSession, name string) (any, bool) {
	m, found := h.monitorables[strings.ToLower(name)]
	if !found {
		return nil, false
	}
	return m.Value(s)
}

// errNoSuchValue is Monitor's error for a name nobody registered.
var errNoSuchValue = errors.New("no such value")

// Monitor makes s watch value name: from now on, whenever it changes, the
// client is sent outputfunc(name=name, value=value), or, with outputfunc
// "", the MSDP variable itself (NAME(value)). It fails for a name nobody
// registered, or past the watches a session may hold. Watching a value
// again with the same outputfunc changes nothing.
func (h *ServerSessionHandler) Monitor(s *ServerSession, name, outputfunc string) error {
	key := strings.ToLower(strings.TrimSpace(name))
	if _, ok := h.monitorables[key]; !ok {
		return fmt.Errorf("sessions: monitor %q: %w", name, errNoSuchValue)
	}
	if slices.ContainsFunc(s.watches, func(w *watch) bool { return w.name == key && w.outputfunc == outputfunc }) {
		return nil
	}
	if len(s.watches) >= maxMonitorsPerSession {
		return fmt.Errorf("sessions: monitor %q: a session may watch at most %d values", name, maxMonitorsPerSession)
	}
	w := &watch{name: key, outputfunc: outputfunc}
	w.last, w.lastOK = h.MonitorValue(s, key)
	s.watches = append(s.watches, w)
	h.saveWatches(s)
	return nil
}

// Unmonitor stops s watching value name with outputfunc ("" for an MSDP
// report); it reports whether there was such a watch.
func (h *ServerSessionHandler) Unmonitor(s *ServerSession, name, outputfunc string) bool {
	key := strings.ToLower(strings.TrimSpace(name))
	return h.dropWatches(s, func(w *watch) bool { return w.name == key && w.outputfunc == outputfunc })
}

// dropWatches removes s's watches that match; it reports whether there
// were any.
func (h *ServerSessionHandler) dropWatches(s *ServerSession, match func(*watch) bool) bool {
	n := len(s.watches)
	s.watches = slices.DeleteFunc(s.watches, match)
	if len(s.watches) == n {
		return false
	}
	h.saveWatches(s)
	return true
}

// saveWatches writes s's watches into its server data and syncs that to
// its plugin, so that they outlive this host image. Watches change
// rarely (a client sets them up once), so one sync each is cheap.
func (h *ServerSessionHandler) saveWatches(s *ServerSession) {
	if len(s.watches) == 0 {
		if _, ok := s.ServerData[watchesKey]; !ok {
			return
		}
		delete(s.ServerData, watchesKey)
	} else {
		pairs := make([]any, len(s.watches))
		for i, w := range s.watches {
			pairs[i] = []any{w.name, w.outputfunc}
		}
		if s.ServerData == nil {
			s.ServerData = map[string]any{}
		}
		s.ServerData[watchesKey] = pairs
	}
	if h.sessions[s.Sessid] == s {
		h.SessionPortalPartialSync(s, contract.FieldServerData)
	}
}

// restoreWatches gives a session rebuilt after a reload or a host crash
// the watches its server data kept. Values are taken as they are now, so
// the client is told only of later changes; a watch of a value this image
// does not register (the game dropped it) is left out.
func (h *ServerSessionHandler) restoreWatches(s *ServerSession) {
	pairs, _ := s.ServerData[watchesKey].([]any)
	if len(s.watches) > 0 || len(pairs) == 0 {
		return
	}
	for _, p := range pairs {
		pair, _ := p.([]any)
		if len(pair) != 2 {
			continue
		}
		name, _ := pair[0].(string)
		outputfunc, _ := pair[1].(string)
		if _, ok := h.monitorables[name]; !ok || len(s.watches) >= maxMonitorsPerSession {
			continue
		}
		w := &watch{name: name, outputfunc: outputfunc}
		w.last, w.lastOK = h.MonitorValue(s, name)
		s.watches = append(s.watches, w)
	}
}

// Monitored returns the names of the values s watches, sorted, each once.
func (s *ServerSession) Monitored() []string {
	var out []string
	for _, w := range s.watches {
		if !slices.Contains(out, w.name) {
			out = append(out, w.name)
		}
	}
	slices.Sort(out)
	return out
}

// CheckMonitors tells s's client of every value it watches that changed
// since it was last told. The handler calls it where values can change
// (after the session's input, a sync from its plugin, its login); a game
// that changes a value of its own outside a command of that session (a
// combat tick lowering hit points) calls it for the sessions concerned, or
// MonitorChanged.
func (h *ServerSessionHandler) CheckMonitors(s *ServerSession) {
	if len(s.watches) == 0 || h.sessions[s.Sessid] != s {
		return
	}
	var out []contract.Message
	for _, w := range s.watches {
		v, ok := h.MonitorValue(s, w.name)
		if ok == w.lastOK && reflect.DeepEqual(v, w.last) {
			continue
		}
		w.last, w.lastOK = v, ok
		out = append(out, w.message(v))
	}
	if len(out) > 0 {
		s.Send(out...)
	}
}

// MonitorChanged checks the watches of every session that watches one of
// names (any value, when none is named): for a game whose value changed
// for many sessions at once, or for sessions it does not track.
func (h *ServerSessionHandler) MonitorChanged(names ...string) {
	for i, n := range names {
		names[i] = strings.ToLower(n)
	}
	for _, s := range h.sortedSessions() {
		if len(s.watches) == 0 {
			continue
		}
		if len(names) == 0 || slices.ContainsFunc(s.watches, func(w *watch) bool { return slices.Contains(names, w.name) }) {
			h.CheckMonitors(s)
		}
	}
}

// message is what the client is sent for value v of w.
func (w *watch) message(v any) contract.Message {
	if w.outputfunc == "" {
		return msdpVariable(w.name, v)
	}
	return contract.Message{Name: w.outputfunc, Kwargs: map[string]any{"name": w.name, "value": v}}
}

// msdpVariable is value name as an MSDP variable: its name upper case,
// as MSDP spells variables, and the value as its one argument, so that a
// list goes out as an MSDP array.
func msdpVariable(name string, v any) contract.Message {
	return contract.Message{Name: strings.ToUpper(name), Args: []any{v}}
}
