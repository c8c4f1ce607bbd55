package main

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
)

// TestDiscordContents: game lines become Discord text exactly: markup
// and escape sequences gone, markdown escaped (inline everywhere, quotes,
// headings and lists at a line's start only), URLs untouched.
func TestDiscordContents(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"[public] |rAlice|n: hi", `\[public\] Alice: hi`},
		{"|h|gbold green|n and ||pipes||", `bold green and \|pipes\|`},
		{"*stars* _under_ ~~strike~~ `code` ||spoiler||", `\*stars\* \_under\_ \~\~strike\~\~ \` + "`code\\`" + ` \|spoiler\|`},
		{"@everyone @here <@123> <#456> <:e:789>", `@everyone @here \<@123> \<#456> \<:e:789>`},
		{"> quote\n# heading\n- item\n+ item\n1. first\n 2. second", "\\> quote\n\\# heading\n\\- item\n\\+ item\n1\\. first\n 2\\. second"},
		{"a > b # c - d 3. e", "a > b # c - d 3. e"},
		{"see https://example.com/a_b*c?x=[1] now_ok", `see https://example.com/a_b*c?x=[1] now\_ok`},
		{"back\\slash", `back\\slash`},
		{"\x1b[31mred\x1b[0m bell\x07 tab\there", "red bell tab\there"},
		{"   ", ""},
	} {
		got := discordContents(tt.in)
		want := []string{tt.want}
		if tt.want == "" {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Errorf("discordContents(%q) = %q, want %q", tt.in, got, want)
		}
	}
}

// TestDiscordContentsSplit: a line longer than 2,000 characters (as
// Discord counts them: an emoji outside the BMP counts two) is split at
// a newline, else a space, else between characters, never between a
// backslash and what it escapes; at most maxMessages come of one line.
func TestDiscordContentsSplit(t *testing.T) {
	count := func(s string) int { return len(utf16.Encode([]rune(s))) }
	check := func(name string, parts []string, n int) {
		t.Helper()
		if len(parts) != n {
			t.Fatalf("%s: %d messages, want %d", name, len(parts), n)
		}
		for _, p := range parts {
			if c := count(p); c > maxContent || c == 0 {
				t.Fatalf("%s: a message of %d characters", name, c)
			}
			if strings.HasSuffix(p, `\`) && !strings.HasSuffix(p, `\\`) {
				t.Fatalf("%s: a message ends in a lone backslash", name)
			}
		}
	}
	words := strings.Repeat("abcd ", 1000)
	parts := discordContents(words)
	check("words", parts, 3)
	if strings.Join(parts, " ") != strings.TrimSpace(words) {
		t.Error("words: text lost or changed in the split")
	}
	lines := strings.Repeat(strings.Repeat("x", 1500)+"\n", 3)
	parts = discordContents(lines)
	check("lines", parts, 3)
	for _, p := range parts {
		if p != strings.Repeat("x", 1500) {
			t.Errorf("lines: split inside a line: %d characters", len(p))
		}
	}
	check("one long word", discordContents(strings.Repeat("y", 4500)), 3)
	check("escapes", discordContents(strings.Repeat("*", 3000)), 3)
	check("emoji", discordContents(strings.Repeat("😀", 1500)), 2)
	check("a flood", discordContents(strings.Repeat("z", 50000)), maxMessages)
}

// TestGameLines: Discord text reaches the game with game markup escaped
// (a Discord user cannot colour the game's text), control characters
// removed, one line per line, at most maxRelayLines.
func TestGameLines(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"hello |rworld", []string{"hello ||rworld"}},
		{"one\r\n\ntwo\x1b[31m\x07", []string{"one", "two"}},
		{"  \t ", nil},
	} {
		if got := gameLines(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("gameLines(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	got := gameLines(strings.Repeat("line\n", 30))
	if len(got) != maxRelayLines || got[maxRelayLines-1] != "line [...]" {
		t.Errorf("30 lines became %q", got)
	}
}
