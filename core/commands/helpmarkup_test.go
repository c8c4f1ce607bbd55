package commands_test

import (
	"context"
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/commands"
	"github.com/portico-mud/portico/sdk/markup"
)

// unintendedMarkup returns the first piece of markup in text, or "" when
// there is none. Command help and usage lines are Evennia markup like every
// other line of output, so a literal | must be written || (markup.Escape's
// rule); a | followed by a markup letter is read as a colour (|w is bright
// white) and eats the letter. Text that is meant literally shows, with
// markup stripped, exactly as it reads with || taken as |.
func unintendedMarkup(text string) string {
	if markup.Strip(text) == strings.ReplaceAll(text, "||", "|") {
		return ""
	}
	for i := 0; i < len(text)-1; i++ {
		if text[i] == '|' && text[i+1] == '|' {
			i++
			continue
		}
		if text[i] != '|' {
			continue
		}
		// The shortest piece from this | (up to the next one) that markup
		// changes.
		for n := 2; n <= 8 && i+n <= len(text) && text[i+n-1] != '|'; n++ {
			if piece := text[i : i+n]; markup.Strip(piece) != piece {
				return piece
			}
		}
	}
	return text
}

// TestUnintendedMarkupCatchesColours checks the checker on the very line
// players saw broken: "channel [join|leave|who <name>]" with |w read as
// bright white.
func TestUnintendedMarkupCatchesColours(t *testing.T) {
	for _, tc := range []struct {
		text string
		bad  bool
	}{
		{"channel [join|leave|who <name>]", true},
		{"channel [join||leave||who <name>]", false},
		{"@ban [<account | IP | CIDR>]", false},
		{"pick |rred", true},
		{"a |||w b", true},
		{"plain text", false},
	} {
		if got := unintendedMarkup(tc.text) != ""; got != tc.bad {
			t.Errorf("unintendedMarkup(%q) = %q, want bad=%v", tc.text, unintendedMarkup(tc.text), tc.bad)
		}
	}
}

// TestHelpAndUsageHaveNoMarkup renders every command's help text, the help
// lists and every usage line the commands print (each command run without
// arguments and with arguments it does not understand), before and after
// login, as an admin with channels, and fails on markup nobody meant.
func TestHelpAndUsageHaveNoMarkup(t *testing.T) {
	e := newEnv(t, 2)
	root := e.account("Root", "secret1")
	if err := e.st.SetAdmin(context.Background(), root.ID, true); err != nil {
		t.Fatal(err)
	}
	withChannels(t, e)
	check := func(where, text string) {
		t.Helper()
		if bad := unintendedMarkup(text); bad != "" {
			t.Errorf("%s: unescaped markup %q in %q", where, bad, text)
		}
	}
	sets := map[string]*commands.Set{"unlogged-in": e.ch.UnloggedIn, "account": e.ch.Account}
	for name, set := range sets {
		for _, cmd := range set.Commands() {
			check(name+" help of "+cmd.Key, cmd.Help)
		}
	}

	// Before login: the help and connection screens, and the usage lines.
	e.connect(1)
	for _, line := range []string{"help", "look", "connect", "create", "who"} {
		e.answer(1, line)
	}
	// After login, every command's help, and each command run with no
	// arguments and with arguments it does not take.
	e.send(1, "connect Root secret1")
	e.waitLogin(1)
	e.answer(1, "help")
	for _, cmd := range e.ch.Account.Commands() {
		if cmd.Key == "quit" {
			continue
		}
		e.answer(1, "help "+cmd.Key)
		for _, args := range []string{"", " nosuchverb here"} {
			e.send(1, cmd.Key+args)
		}
	}
	e.answer(1, "ping done")
	for _, text := range e.texts(1) {
		check("sent to the player", text)
	}
}
