package sessions

// The inputfuncs of monitored values: get_value, monitor, unmonitor and
// monitored (Evennia's), and MSDP's generic commands, which the telnet
// plugin hands over as msdp_list, msdp_report, msdp_unreport, msdp_reset
// and msdp_send (Evennia's names for them; its msdp_report raises and its
// msdp_send sends field names, so these follow the MSDP specification
// instead, tintin.sourceforge.io/protocols/msdp).

import (
	"slices"
	"strings"

	"github.com/portico-mud/portico/sdk/contract"
)

// monitorInputfuncs are the inputfuncs of this file, for DefaultInputfuncs.
func monitorInputfuncs() map[string]Inputfunc {
	return map[string]Inputfunc{
		"get_value": {Func: inputGetValue, Doc: "Get a value: name=, one of those MSDP LIST REPORTABLE_VARIABLES names."},
		"monitor": {Func: inputMonitor,
			Doc: "Be told whenever value name= changes (outputfunc_name= names the outputfunc, default monitor); stop=True ends it."},
		"unmonitor": {Func: inputUnmonitor, Doc: "Stop being told of value name=."},
		"monitored": {Func: inputMonitored, Doc: "List the values watched."},
		"msdp_list": {Func: inputMSDPList,
			Doc: "MSDP LIST: COMMANDS, LISTS, CONFIGURABLE_VARIABLES, REPORTABLE_VARIABLES, REPORTED_VARIABLES or SENDABLE_VARIABLES."},
		"msdp_report":   {Func: inputMSDPReport, Doc: "MSDP REPORT: send these variables now and whenever they change."},
		"msdp_unreport": {Func: inputMSDPUnreport, Doc: "MSDP UNREPORT: stop reporting these variables."},
		"msdp_reset":    {Func: inputMSDPReset, Doc: "MSDP RESET REPORTABLE_VARIABLES: stop every report."},
		"msdp_send":     {Func: inputMSDPSend, Doc: "MSDP SEND: send these variables now."},
	}
}

// msdpCommands are the MSDP commands, as MSDP spells them, each the
// inputfunc msdp_<lower case>.
var msdpCommands = []string{"LIST", "REPORT", "RESET", "SEND", "UNREPORT"}

// msdpLists are the lists MSDP LIST answers.
var msdpLists = []string{"COMMANDS", "LISTS", "CONFIGURABLE_VARIABLES", "REPORTABLE_VARIABLES",
	"REPORTED_VARIABLES", "SENDABLE_VARIABLES"}

func inputGetValue(h *ServerSessionHandler, s *ServerSession, _ []any, kwargs map[string]any) {
	name, _ := kwargs["name"].(string)
	if _, ok := h.monitorables[strings.ToLower(name)]; !ok {
		return // Evennia answers only the values it has
	}
	value, _ := h.MonitorValue(s, name)
	s.Send(contract.Message{Name: "get_value", Kwargs: map[string]any{"name": name, "value": value}})
}

func inputMonitor(h *ServerSessionHandler, s *ServerSession, args []any, kwargs map[string]any) {
	if toBool(kwargs["stop"]) {
		inputUnmonitor(h, s, args, kwargs)
		return
	}
	name, _ := kwargs["name"].(string)
	if err := h.Monitor(s, name, monitorOutputfuncOf(kwargs)); err != nil {
		h.log.Debug("monitor refused", "sessid", s.Sessid, "err", err)
	}
}

func inputUnmonitor(h *ServerSessionHandler, s *ServerSession, _ []any, kwargs map[string]any) {
	name, _ := kwargs["name"].(string)
	h.Unmonitor(s, name, monitorOutputfuncOf(kwargs))
}

// monitorOutputfuncOf is the outputfunc a monitor call asks for
// (outputfunc_name=), by default monitor.
func monitorOutputfuncOf(kwargs map[string]any) string {
	if name, _ := kwargs["outputfunc_name"].(string); strings.TrimSpace(name) != "" {
		return strings.TrimSpace(name)
	}
	return monitorOutputfunc
}

func inputMonitored(_ *ServerSessionHandler, s *ServerSession, _ []any, _ map[string]any) {
	names := s.Monitored()
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	s.Send(contract.Message{Name: "monitored", Args: []any{args}})
}

// msdpNames are the MSDP arguments of a call (variable or list names) as
// strings, nested arrays flattened.
func msdpNames(args []any) []string {
	var out []string
	for _, a := range args {
		switch x := a.(type) {
		case string:
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		case []any:
			out = append(out, msdpNames(x)...)
		}
	}
	return out
}

// msdpArray is names as one MSDP array argument.
func msdpArray(names []string) []any {
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = n
	}
	return []any{out}
}

func inputMSDPList(h *ServerSessionHandler, s *ServerSession, args []any, _ map[string]any) {
	var out []contract.Message
	for _, list := range msdpNames(args) {
		var items []string
		switch strings.ToUpper(list) {
		case "COMMANDS":
			items = msdpCommandNames(h)
		case "LISTS":
			items = msdpLists
		case "CONFIGURABLE_VARIABLES":
			items = clientOptionFlags
		case "REPORTABLE_VARIABLES", "SENDABLE_VARIABLES":
			for _, n := range h.Monitorables() {
				items = append(items, strings.ToUpper(n))
			}
		case "REPORTED_VARIABLES":
			for _, w := range s.watches {
				if w.outputfunc == "" {
					items = append(items, strings.ToUpper(w.name))
				}
			}
		default:
			continue // MSDP: an unknown list is not answered
		}
		out = append(out, contract.Message{Name: strings.ToUpper(list), Args: msdpArray(items)})
	}
	if len(out) > 0 {
		s.Send(out...)
	}
}

// msdpCommandNames are the commands MSDP LIST COMMANDS names: MSDP's own,
// then every other inputfunc a client may call by name (Evennia lists
// them all).
func msdpCommandNames(h *ServerSessionHandler) []string {
	out := slices.Clone(msdpCommands)
	for _, name := range sortedKeys(h.inputfuncs) {
		if !strings.HasPrefix(name, "msdp_") && name != "default" {
			out = append(out, name)
		}
	}
	return out
}

func inputMSDPReport(h *ServerSessionHandler, s *ServerSession, args []any, _ map[string]any) {
	var out []contract.Message
	for _, name := range msdpNames(args) {
		if err := h.Monitor(s, name, ""); err != nil {
			h.log.Debug("MSDP report refused", "sessid", s.Sessid, "err", err)
			continue
		}
		// The current value at once, as MSDP asks; then each change.
		v, _ := h.MonitorValue(s, name)
		out = append(out, msdpVariable(name, v))
	}
	if len(out) > 0 {
		s.Send(out...)
	}
}

func inputMSDPUnreport(h *ServerSessionHandler, s *ServerSession, args []any, _ map[string]any) {
	for _, name := range msdpNames(args) {
		h.Unmonitor(s, name, "")
	}
}

func inputMSDPReset(h *ServerSessionHandler, s *ServerSession, args []any, _ map[string]any) {
	for _, list := range msdpNames(args) {
		switch strings.ToUpper(list) {
		case "REPORTABLE_VARIABLES", "REPORTED_VARIABLES":
			h.dropWatches(s, func(w *watch) bool { return w.outputfunc == "" })
		}
	}
}

func inputMSDPSend(h *ServerSessionHandler, s *ServerSession, args []any, _ map[string]any) {
	var out []contract.Message
	for _, name := range msdpNames(args) {
		if _, ok := h.monitorables[strings.ToLower(name)]; !ok {
			continue
		}
		v, _ := h.MonitorValue(s, name)
		out = append(out, msdpVariable(name, v))
	}
	if len(out) > 0 {
		s.Send(out...)
	}
}
