// Package gmcp maps GMCP messages ("Package.Name <json>") to Evennia's
// inputfuncs and outputfuncs, exactly as Evennia's gmcp_utils does
// (evennia-reference.md §5.2). It knows nothing of transports: telnet wraps
// the text in IAC SB GMCP ... IAC SE, the websocket subprotocols send it in
// a text frame or a JSON envelope.
//
// Every plugin that speaks GMCP shares it, so that the mapping is one. It
// must not import anything but sdk/contract.
package gmcp

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/portico-mud/portico/sdk/contract"
)

// evenniaToGMCP maps outputfunc names to the GMCP packages that carry them;
// incoming packages map back to the inputfunc.
var evenniaToGMCP = map[string]string{
	"client_options": "Core.Supports.Get",
	"get_inputfuncs": "Core.Commands.Get",
	"get_value":      "Char.Value.Get",
	"repeat":         "Char.Repeat.Update",
	"monitor":        "Char.Monitor.Update",
}

var gmcpToEvennia = func() map[string]string {
	m := map[string]string{}
	for k, v := range evenniaToGMCP {
		m[v] = k
	}
	return m
}()

// MaxNameLength bounds an inputfunc name taken from a client.
const MaxNameLength = 128

// Decode turns one GMCP message into an inputfunc call:
//
//	Core.Hello {"client":"Mudlet"} -> hello(client="Mudlet") (the host maps hello to client_options)
//	Char.Login ["a","b"]           -> char_login("a", "b")
//	Core.Ping                      -> ping()
//	Some.Thing 42 / Some.Thing x   -> some_thing(42) / some_thing("x")
//
// A package name is mapped back through Evennia's table, else dots become
// underscores, a leading "Core_" is dropped and the name is lower-cased. A
// JSON list gives the arguments, an object the keyword arguments (empty keys
// dropped), any other JSON value or text that is not JSON one argument. It
// reports false for an empty message or an unusable name.
func Decode(payload string) (contract.Message, bool) {
	data := strings.TrimLeftFunc(strings.ToValidUTF8(payload, "\uFFFD"), unicode.IsSpace)
	if data == "" {
		return contract.Message{}, false
	}
	pkg, rest := data, ""
	if i := strings.IndexFunc(data, unicode.IsSpace); i >= 0 {
		pkg, rest = data[:i], strings.TrimSpace(data[i:])
	}
	name, ok := gmcpToEvennia[pkg]
	if !ok {
		name = strings.ReplaceAll(pkg, ".", "_")
		if len(name) >= 5 && strings.EqualFold(name[:5], "core_") {
			name = name[5:]
		}
		name = strings.ToLower(name)
	}
	if name == "" || len(name) > MaxNameLength {
		return contract.Message{}, false
	}
	m := contract.Message{Name: name}
	if rest == "" {
		return m, true
	}
	v, err := contract.DecodeJSON([]byte(rest))
	if err != nil {
		m.Args = []any{rest}
		return m, true
	}
	switch x := v.(type) {
	case []any:
		m.Args = x
	case map[string]any:
		delete(x, "")
		m.Kwargs = x
	default:
		m.Args = []any{x}
	}
	return m, true
}

// Package names the GMCP package for an outputfunc: Evennia's mapped name,
// else a_b -> A.B (words capitalised unless all upper case), else a single
// word goes into Core (Core.Word).
func Package(name string) string {
	if p, ok := evenniaToGMCP[name]; ok {
		return p
	}
	if strings.Contains(name, "_") {
		words := strings.Split(name, "_")
		for i, w := range words {
			if !isUpperWord(w) {
				words[i] = capitalize(w)
			}
		}
		return strings.Join(words, ".")
	}
	if isTitleWord(name) {
		return "Core." + name
	}
	return "Core." + capitalize(name)
}

// Payload returns the JSON an outputfunc call carries in GMCP, "" when it
// carries none: one argument is sent as itself, several as a list; keyword
// arguments alone as an object; both as [args, {kwargs}]. The "options"
// keyword is Portico's and never sent.
func Payload(m contract.Message) string {
	kwargs := contract.WithoutOptions(m.Kwargs)
	var payload any
	switch {
	case len(m.Args) == 0 && len(kwargs) == 0:
		return ""
	case len(m.Args) > 0:
		var args any = m.Args
		if len(m.Args) == 1 {
			args = m.Args[0]
		}
		payload = args
		if len(kwargs) > 0 {
			payload = []any{args, kwargs}
		}
	default:
		payload = kwargs
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// GMCP is not HTML: "<" stays "<".
	enc.SetEscapeHTML(false)
	if err := enc.Encode(payload); err != nil {
		// Only values the contract cannot carry fail; send the package
		// alone rather than a broken document.
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Encode renders an outputfunc call as one GMCP message: the package,
// then a space and the payload when there is one.
func Encode(m contract.Message) string {
	pkg := Package(m.Name)
	if p := Payload(m); p != "" {
		return pkg + " " + p
	}
	return pkg
}

// capitalize is Python's str.capitalize: first letter upper, rest lower.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + strings.ToLower(s[n:])
}

// isUpperWord is Python's str.isupper: some cased letter, none lower case.
func isUpperWord(s string) bool {
	cased := false
	for _, r := range s {
		if unicode.IsLower(r) {
			return false
		}
		if unicode.IsUpper(r) {
			cased = true
		}
	}
	return cased
}

// isTitleWord is Python's str.istitle for a single word: it starts with an
// upper-case letter and has no other upper-case letter right after a cased
// one.
func isTitleWord(s string) bool {
	prevCased, cased := false, false
	for _, r := range s {
		switch {
		case unicode.IsUpper(r):
			if prevCased {
				return false
			}
			prevCased, cased = true, true
		case unicode.IsLower(r):
			if !prevCased {
				return false
			}
			prevCased = true
		default:
			prevCased = false
		}
	}
	return cased
}
