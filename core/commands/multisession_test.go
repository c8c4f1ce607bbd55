package commands_test

import (
	"strings"
	"testing"
)

// TestMultisessionMode2: one session per character; ic of a character
// acted by another of the account's sessions takes it over.
func TestMultisessionMode2(t *testing.T) {
	e := newEnv(t, 2)
	e.account("Alice", "secret1")
	e.loginAs(1, "Alice", "secret1")
	e.send(1, "charcreate Alicia")
	e.waitText(1, "Created new character Alicia. Use ic Alicia to enter the game as this character.")
	// A second session of Alice: her first character is taken, so it
	// starts OOC.
	e.loginAs(2, "Alice", "secret1")
	e.waitText(2, "\nYou are out-of-character (OOC). Use ic <character> to play one of your characters.\n")
	e.send(2, "ic Alicia")
	e.waitText(2, "You become Alicia.")
	e.send(2, "ic Alice")
	e.waitText(2, "Taking over Alice from another of your sessions.")
	e.waitText(1, "Alice is now acted from another of your sessions.")
	e.send(1, "chars")
	if got := e.last(1); !strings.Contains(got, "Alice") || !strings.Contains(got, "session 2") {
		t.Fatalf("chars = %q", got)
	}
	e.send(1, "ic Bob")
	e.waitText(1, "That is not a valid character choice.")
	e.send(2, "ooc")
	e.waitText(2, "You go OOC.")
}

// TestMultisessionMode3: sessions may share a character.
func TestMultisessionMode3(t *testing.T) {
	e := newEnv(t, 3)
	e.account("Alice", "secret1")
	e.loginAs(1, "Alice", "secret1")
	e.loginAs(2, "Alice", "secret1")
	e.send(2, "ooc")
	e.waitText(2, "You go OOC.")
	e.send(2, "ic Alice")
	e.waitText(2, "Sharing Alice with another of your sessions.")
}

// TestCharCreateNeedsMode2: with one character per account, charcreate says so.
func TestCharCreateNeedsMode2(t *testing.T) {
	e := newEnv(t, 1)
	e.account("Alice", "secret1")
	e.loginAs(1, "Alice", "secret1")
	e.send(1, "charcreate Alicia")
	e.waitText(1, "You may only have one character on this server.")
}
