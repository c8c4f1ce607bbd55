package sessions

import (
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
)

// Inputfunc handles one named input from a client (Evennia's inputfuncs):
// text typed, or an OOB call (GMCP, MSDP, a websocket message).
type Inputfunc struct {
	Func func(h *ServerSessionHandler, s *ServerSession, args []any, kwargs map[string]any)
	// Doc is shown by get_inputfuncs.
	Doc string
}

// Messages of the default inputfuncs, Evennia's where it has them.
const (
	MsgBadLogin = "Username and/or password is incorrect."
	// MsgLoginUnavailable answers a login the store could not check: the
	// player's password may well be right, so "incorrect" would mislead.
	MsgLoginUnavailable = "The server cannot check logins right now; please try again in a moment."
	MsgAlreadyLogged    = "You are already logged in."
	IdleCommand         = "idle"
)

func normaliseInputfuncName(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}

// DefaultInputfuncs returns Evennia's default inputfuncs that make sense
// without a game world.
func DefaultInputfuncs() map[string]Inputfunc {
	clientOptions := Inputfunc{Func: inputClientOptions, Doc: "Get or set the client's options (protocol flags)."}
	noop := Inputfunc{Func: func(*ServerSessionHandler, *ServerSession, []any, map[string]any) {}, Doc: "Accepted and ignored."}
	funcs := map[string]Inputfunc{
		"text":                   {Func: inputText, Doc: "Text typed by the player: a command."},
		"bot_data_in":            {Func: inputText, Doc: "Text from a bot's network, run as the bot's command."},
		"echo":                   {Func: inputEcho, Doc: "Echo the arguments back (a test)."},
		"default":                {Func: inputDefault, Doc: "Called for inputs no inputfunc handles."},
		"client_options":         clientOptions,
		"hello":                  clientOptions,
		"supports_set":           clientOptions,
		"get_client_options":     {Func: inputGetClientOptions, Doc: "Send the client's options."},
		"get_inputfuncs":         {Func: inputGetInputfuncs, Doc: "List the available inputfuncs."},
		"login":                  {Func: inputLogin, Doc: "Log in with name= and password=."},
		"repeat":                 {Func: inputRepeat, Doc: "Call callback= (test1 or test2) every interval= seconds (at least 5, default 60); stop=True ends it."},
		"unrepeat":               {Func: inputUnrepeat, Doc: "Stop a repeat of callback=."},
		"webclient_options":      {Func: inputWebclientOptions, Doc: "Get (no kwargs) or store the webclient's options."},
		"external_discord_hello": noop,
		"client_gui":             noop,
	}
	maps.Copy(funcs, monitorInputfuncs())
	return funcs
}

func inputText(h *ServerSessionHandler, s *ServerSession, args []any, _ map[string]any) {
	if len(args) == 0 || args[0] == nil {
		return
	}
	txt, ok := args[0].(string)
	if !ok {
		txt = fmt.Sprint(args[0])
	}
	now := h.now()
	if strings.TrimSpace(txt) == IdleCommand && s.Prompted == nil {
		s.UpdateSessionCounters(now, true)
		return
	}
	s.UpdateSessionCounters(now, false)
	if p := s.Prompted; p != nil {
		s.Prompted = nil
		p(s, strings.TrimRight(txt, "\r\n"))
		return
	}
	if h.commands != nil {
		h.commands.Execute(s, strings.TrimSpace(txt))
	}
}

func inputEcho(_ *ServerSessionHandler, s *ServerSession, args []any, kwargs map[string]any) {
	s.Msg(fmt.Sprintf("Echo returns: %s, %s", PyRepr(args, true), PyRepr(kwargs, false)))
}

func inputDefault(h *ServerSessionHandler, s *ServerSession, args []any, _ map[string]any) {
	name := ""
	if len(args) > 0 {
		name, _ = args[0].(string)
	}
	text := fmt.Sprintf("Session %d: Input command not recognized:\n %s", s.Sessid, name)
	h.log.Debug("inputfunc not recognized", "sessid", s.Sessid, "name", name)
	if s.FlagBool(contract.FlagInputDebug) {
		s.Msg(text)
	}
}

// clientOptionFlags are the flags client_options reports.
var clientOptionFlags = []string{"ANSI", "XTERM256", "MXP", "UTF-8", "SCREENREADER", "ENCODING", "MCCP",
	"SCREENHEIGHT", "SCREENWIDTH", "AUTORESIZE", "INPUTDEBUG", "RAW", "NOCOLOR", "NOGOAHEAD", "LOCALECHO",
	"ISTYPING", "TRUECOLOR"}

var boolClientOptions = map[string]string{
	"ansi": "ANSI", "xterm256": "XTERM256", "truecolor": "TRUECOLOR", "mxp": "MXP", "utf-8": "UTF-8",
	"screenreader": "SCREENREADER", "mccp": "MCCP", "autoresize": "AUTORESIZE", "inputdebug": "INPUTDEBUG",
	"raw": "RAW", "nocolor": "NOCOLOR", "nogoahead": "NOGOAHEAD", "localecho": "LOCALECHO", "istyping": "ISTYPING",
}

// ireIgnored are Mudlet's IRE keys that Evennia accepts and ignores.
var ireIgnored = map[string]bool{"char 1": true, "char.skills 1": true, "char.items 1": true,
	"room 1": true, "ire.rift 1": true, "ire.composer 1": true}

// SupportedEncodings are the encodings a client may ask for.
var SupportedEncodings = map[string]bool{"utf-8": true, "utf8": true, "latin-1": true, "latin1": true,
	"iso-8859-1": true, "ascii": true}

func sendClientOptions(s *ServerSession) {
	out := map[string]any{}
	for _, f := range clientOptionFlags {
		if v, ok := s.ProtocolFlags.Get(f); ok {
			out[f] = v
		}
	}
	s.Send(contract.Message{Name: "client_options", Kwargs: out})
}

func inputClientOptions(h *ServerSessionHandler, s *ServerSession, _ []any, kwargs map[string]any) {
	kwargs = withoutBookkeeping(kwargs)
	if _, get := kwargs["get"]; len(kwargs) == 0 || get {
		sendClientOptions(s)
		return
	}
	flags := map[string]any{}
	var version string
	keys := sortedKeys(kwargs)
	for _, k := range keys {
		v := kwargs[k]
		key := strings.ToLower(k)
		switch {
		case key == "client":
			flags[contract.FlagClientName] = fmt.Sprint(v)
		case key == "version":
			version = fmt.Sprint(v)
		case key == "screenwidth" || key == "screenheight":
			n, err := toInt(v)
			if err != nil {
				s.Msg(fmt.Sprintf("Inputfunc client_options(%d): Wrong/unrecognized input: %s", s.Sessid, k))
				continue
			}
			flags[strings.ToUpper(key)] = n
		case key == "encoding":
			enc := strings.ToLower(fmt.Sprint(v))
			if !SupportedEncodings[enc] {
				s.Msg(fmt.Sprintf("Inputfunc client_options(%d): unsupported encoding: %s", s.Sessid, enc))
				continue
			}
			flags[contract.FlagEncoding] = enc
		case boolClientOptions[key] != "":
			flags[boolClientOptions[key]] = toBool(v)
		case ireIgnored[key]:
		default:
			s.Msg(fmt.Sprintf("Inputfunc client_options(%d): Wrong/unrecognized input: %s", s.Sessid, k))
		}
	}
	if version != "" {
		name, _ := flags[contract.FlagClientName].(string)
		if name == "" {
			name = s.FlagString(contract.FlagClientName)
		}
		flags[contract.FlagClientName] = strings.TrimSpace(name + " " + version)
	}
	if len(flags) > 0 {
		s.UpdateFlags(flags)
	}
}

func inputGetClientOptions(_ *ServerSessionHandler, s *ServerSession, _ []any, _ map[string]any) {
	sendClientOptions(s)
}

func inputGetInputfuncs(h *ServerSessionHandler, s *ServerSession, _ []any, _ map[string]any) {
	out := map[string]any{}
	for name, f := range h.inputfuncs {
		out[name] = f.Doc
	}
	s.Send(contract.Message{Name: "get_inputfuncs", Kwargs: out})
}

func inputLogin(h *ServerSessionHandler, s *ServerSession, _ []any, kwargs map[string]any) {
	if s.LoggedIn {
		s.Msg(MsgAlreadyLogged)
		return
	}
	name, _ := kwargs["name"].(string)
	password, _ := kwargs["password"].(string)
	h.LoginWithPassword(s, name, password)
}

var repeatables = map[string]bool{"test1": true, "test2": true}

func inputRepeat(h *ServerSessionHandler, s *ServerSession, _ []any, kwargs map[string]any) {
	callback, _ := kwargs["callback"].(string)
	if toBool(kwargs["stop"]) {
		inputUnrepeat(h, s, nil, kwargs)
		return
	}
	if !repeatables[callback] {
		s.Msg(fmt.Sprintf("Allowed repeating functions are: %s", strings.Join(sortedKeys(repeatables), ", ")))
		return
	}
	interval := 60
	if v, ok := kwargs["interval"]; ok {
		n, err := toInt(v)
		if err != nil {
			s.Msg("repeat: interval must be a whole number of seconds.")
			return
		}
		interval = max(n, 5)
	}
	if s.repeats == nil {
		s.repeats = map[string]*time.Timer{}
	}
	if t := s.repeats[callback]; t != nil {
		t.Stop()
	}
	every := time.Duration(interval) * time.Second
	// timer is this repeat's current timer; it is only read and written on
	// the loop. A fire whose timer is no longer the session's (the repeat
	// was stopped or restarted after the timer fired) does nothing, so that
	// a restart never leaves two chains of calls running.
	var timer *time.Timer
	var fire func()
	fire = func() {
		h.Do(func() {
			if h.sessions[s.Sessid] != s || s.repeats[callback] != timer {
				return
			}
			s.Send(contract.Message{Name: "repeat", Args: []any{fmt.Sprintf("Repeat called: %s", h.now().Format(time.RFC3339))}})
			timer = time.AfterFunc(every, fire)
			s.repeats[callback] = timer
		})
	}
	timer = time.AfterFunc(every, fire)
	s.repeats[callback] = timer
}

func inputUnrepeat(_ *ServerSessionHandler, s *ServerSession, _ []any, kwargs map[string]any) {
	callback, _ := kwargs["callback"].(string)
	if t := s.repeats[callback]; t != nil {
		t.Stop()
		delete(s.repeats, callback)
	}
}

var defaultWebclientOptions = map[string]any{
	"gagprompt": true, "helppopup": false, "notification_popup": false, "notification_sound": false,
}

// clientBookkeeping are the keys a client adds to its messages for its own
// use, not options: Evennia's webclient puts an incrementing cmdid in the
// kwargs of every message it sends, to route the answer to a callback.
var clientBookkeeping = []string{"cmdid"}

// withoutBookkeeping returns kwargs without the client's bookkeeping keys
// (a copy only when there were some).
func withoutBookkeeping(kwargs map[string]any) map[string]any {
	for _, k := range clientBookkeeping {
		if _, ok := kwargs[k]; ok {
			kw := maps.Clone(kwargs)
			for _, k := range clientBookkeeping {
				delete(kw, k)
			}
			return kw
		}
	}
	return kwargs
}

// inputWebclientOptions is Evennia's webclient_options: with no kwargs it
// sends the stored options (the defaults at first), and the session is
// told of later changes made from the account's other sessions; with
// kwargs it stores them. A logged-in session keeps them on its account,
// so that they are there at the next login, as Evennia keeps them in the
// account's _saved_webclient_options; before login, with the session.
func inputWebclientOptions(h *ServerSessionHandler, s *ServerSession, _ []any, kwargs map[string]any) {
	stored := h.webclientOptions(s)
	kw := withoutBookkeeping(kwargs)
	if len(kw) == 0 {
		s.watchesWebclientOptions = true
		s.Send(contract.Message{Name: "webclient_options", Kwargs: stored})
		return
	}
	maps.Copy(stored, kw)
	h.saveWebclientOptions(s, stored)
}
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func toBool(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "on", "1", "yes":
			return true
		}
	case int64:
		return x != 0
	case float64:
		return x != 0
	case int:
		return x != 0
	}
	return false
}

func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case float64:
		return int(x), nil
	case string:
		return strconv.Atoi(strings.TrimSpace(x))
	}
	return 0, fmt.Errorf("not a number: %v", v)
}

// PyRepr formats a value as Python's repr would, so that echo answers as
// Evennia does. asTuple formats a list as a tuple.
func PyRepr(v any, asTuple bool) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return "'" + strings.ReplaceAll(strings.ReplaceAll(x, `\`, `\\`), "'", `\'`) + "'"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = PyRepr(e, false)
		}
		if asTuple {
			if len(parts) == 1 {
				return "(" + parts[0] + ",)"
			}
			return "(" + strings.Join(parts, ", ") + ")"
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := sortedKeys(x)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = PyRepr(k, false) + ": " + PyRepr(x[k], false)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return fmt.Sprint(x)
	}
}
