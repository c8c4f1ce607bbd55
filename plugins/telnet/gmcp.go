package main

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
)

// GMCP (Generic MUD Communication Protocol): IAC SB GMCP "Package.Name
// <json>" IAC SE, mapped to and from Evennia's inputfuncs and outputfuncs
// exactly as Evennia's gmcp_utils does (evennia-reference.md §5.2).

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

// maxOOBName bounds an inputfunc name taken from the client.
const maxOOBName = 128

// decodeGMCP turns one GMCP message into an inputfunc call:
//
//	Core.Hello {"client":"Mudlet"} -> hello(client="Mudlet") (the host maps hello to client_options)
//	Char.Login ["a","b"]           -> char_login("a", "b")
//	Core.Ping                      -> ping()
//	Some.Thing 42 / Some.Thing x   -> some_thing(42) / some_thing("x")
//
// A package name is mapped back through evenniaToGMCP, else dots become
// underscores, a leading "Core_" is dropped and the name is lower-cased. A
// JSON list gives the arguments, an object the keyword arguments (empty keys
// dropped), any other JSON value or text that is not JSON one argument. It
// reports false for an empty message or an unusable name.
func decodeGMCP(payload []byte) (sdk.Message, bool) {
	data := strings.TrimLeftFunc(strings.ToValidUTF8(string(payload), "\uFFFD"), unicode.IsSpace)
	if data == "" {
		return sdk.Message{}, false
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
	if name == "" || len(name) > maxOOBName {
		return sdk.Message{}, false
	}
	m := sdk.Message{Name: name}
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

// gmcpPackage names the GMCP package for an outputfunc: the mapped name,
// else a_b -> A.B (words capitalised unless all upper case), else a single
// word goes into Core (Core.Word).
func gmcpPackage(name string) string {
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

// encodeGMCP renders an outputfunc call as a GMCP message (without the
// telnet framing): no data gives the package alone; one argument is sent as
// itself, several as a list; keyword arguments alone as an object; both as
// [args, {kwargs}]. The "options" keyword is Portico's and never sent.
func encodeGMCP(m sdk.Message) []byte {
	kwargs := withoutOptions(m.Kwargs)
	pkg := gmcpPackage(m.Name)
	var payload any
	switch {
	case len(m.Args) == 0 && len(kwargs) == 0:
		return []byte(pkg)
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
	doc, err := jsonText(payload)
	if err != nil {
		// Only values the contract cannot carry fail; send the package
		// alone rather than a broken document.
		return []byte(pkg)
	}
	return []byte(pkg + " " + doc)
}

// withoutOptions returns kwargs without the "options" key.
func withoutOptions(kwargs map[string]any) map[string]any {
	if _, ok := kwargs["options"]; !ok {
		return kwargs
	}
	out := make(map[string]any, len(kwargs))
	for k, v := range kwargs {
		if k != "options" {
			out[k] = v
		}
	}
	return out
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
