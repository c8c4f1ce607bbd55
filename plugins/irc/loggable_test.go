package main

import (
	"testing"

	"github.com/portico-mud/portico/sdk/logging"
)

// TestLoggableMasksCredentials: the lines that carry the bot's password
// (PASS, AUTHENTICATE's SASL payload) are masked in the debug log; the
// others, and AUTHENTICATE's mechanism and empty payload, are kept.
func TestLoggableMasksCredentials(t *testing.T) {
	for line, want := range map[string]string{
		"PASS hunter2":                  "PASS " + logging.Mask,
		"AUTHENTICATE Ym90AGJvdABodW50": "AUTHENTICATE " + logging.Mask,
		"AUTHENTICATE PLAIN":            "AUTHENTICATE PLAIN",
		"AUTHENTICATE +":                "AUTHENTICATE +",
		"PRIVMSG #chan :hello":          "PRIVMSG #chan :hello",
	} {
		if got := loggable(line); got != want {
			t.Errorf("loggable(%q) = %q, want %q", line, got, want)
		}
	}
}
