package commands

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseCommandLine checks the command-line parsing that every line a
// player types goes through: it never panics, the name has no space, and
// connect/create argument splitting is total.
func FuzzParseCommandLine(f *testing.F) {
	for _, seed := range []string{"look", "say hello there", `"hi`, "'hi", "connect Alice secret",
		`connect "Anna the Barbarian" pw`, `create "unterminated pw`, "@irc2chan/delete bot", "channel/who public",
		"", " ", "\x00", "\"", "ping 1 2 3", "a/b/c d", strings.Repeat("x", 100)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		line = strings.TrimSpace(line)
		if line == "" {
			return
		}
		name, args := splitCommand(line)
		if name == "" {
			t.Fatalf("empty command name from %q", line)
		}
		if strings.Contains(name, " ") {
			t.Fatalf("command name %q has a space (line %q)", name, line)
		}
		if utf8.ValidString(line) && (!utf8.ValidString(name) || !utf8.ValidString(args)) {
			t.Fatalf("valid line %q split into invalid UTF-8", line)
		}
		n, p, ok := splitNamePassword(args)
		if ok && strings.HasPrefix(strings.TrimSpace(args), `"`) && strings.Contains(n, `"`) {
			t.Fatalf("quoted name %q keeps a quote (args %q)", n, args)
		}
		_ = p
	})
}
