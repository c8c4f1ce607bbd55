package commands_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/commands"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/sdk/contract"
)

// setLimits changes the live limits.
func (e *env) setLimits(l contract.Limits) {
	e.t.Helper()
	e.call(func() {
		st := e.h.Settings()
		st.Limits = l
		e.h.SetSettings(st)
	})
}

// connectFrom announces a telnet session from address.
func (e *env) connectFrom(id uint64, address string) {
	e.t.Helper()
	var d contract.SessionData
	d.InitSession("telnet", address, time.Now())
	d.Sessid = id
	e.call(func() { e.h.PortalConnect("telnet", d) })
}

// answer sends line on session id and waits for the next text sent to it.
func (e *env) answer(id uint64, line string) string {
	e.t.Helper()
	n := len(e.texts(id))
	e.send(id, line)
	var got []string
	e.waitFor(fmt.Sprintf("an answer to %q on session %d", line, id), func(evs []sentEvent) bool {
		got = e.textsIn(evs, id)
		return len(got) > n
	})
	return got[n]
}

// TestCreateChecksNameBeforeHashing: a taken, reserved or invalid name is
// refused before any argon2 work; only a create that will succeed hashes.
func TestCreateChecksNameBeforeHashing(t *testing.T) {
	e := newEnv(t, 0)
	e.account("Alice", "secret1")
	e.connect(1)
	before := e.st.PasswordHashes()
	for _, tc := range []struct{ line, want string }{
		{"create Alice password1", "Sorry, there is already an account with the name 'Alice'."},
		{"create ALICE password1", "Sorry, there is already an account with the name 'ALICE'."},
		{"create admin password1", "The name 'admin' is reserved. Please choose another."},
		{"create 9lives password1", "Must start with a letter"},
		{"create " + strings.Repeat("a", 40) + " password1", "Must be 3 to 30 characters long"},
	} {
		if got := e.answer(1, tc.line); got != tc.want {
			t.Errorf("%q = %q, want %q", tc.line, got, tc.want)
		}
	}
	if n := e.st.PasswordHashes() - before; n != 0 {
		t.Fatalf("%d argon2 hashes were spent on names that could not be created", n)
	}
	// Asked for the password only once the name is known to be free.
	if got := e.answer(1, "create Alice"); got != "Sorry, there is already an account with the name 'Alice'." {
		t.Errorf("create Alice (no password) = %q", got)
	}
	// The counter does count: a create that succeeds hashes once.
	if got := e.answer(1, "create Bob password2"); !strings.HasPrefix(got, "A new account 'Bob' was created.") {
		t.Fatalf("create Bob = %q", got)
	}
	if n := e.st.PasswordHashes() - before; n != 1 {
		t.Errorf("create Bob spent %d hashes, want 1", n)
	}
}

// TestCreateAttemptsCounted: every create counts against
// limits.create_attempts per address, whatever its outcome; refused ones
// spend nothing; another address is not affected; account_creations
// still counts only the accounts made.
func TestCreateAttemptsCounted(t *testing.T) {
	e := newEnv(t, 0)
	e.account("Alice", "secret1")
	e.setLimits(contract.Limits{CreateAttempts: 3, CreateAttemptWindow: 10 * time.Minute,
		AccountCreations: 1, AccountCreationWindow: 10 * time.Minute})
	e.connectFrom(1, "198.51.100.7:5000")
	e.connectFrom(2, "198.51.100.7:5001") // same address, another connection
	e.connectFrom(3, "203.0.113.9:5000")

	// Two failures do not use up account_creations (1): the third create,
	// a good one, still succeeds.
	if got := e.answer(1, "create Alice password1"); !strings.HasPrefix(got, "Sorry, there is already") {
		t.Fatalf("taken name = %q", got)
	}
	if got := e.answer(2, "create 1xy password1"); got != "Must start with a letter" {
		t.Fatalf("invalid name = %q", got)
	}
	if got := e.answer(1, "create Carol password3"); !strings.HasPrefix(got, "A new account 'Carol' was created.") {
		t.Fatalf("create Carol = %q", got)
	}
	// The fourth attempt from the address is refused first, before the
	// name is looked at and with no hashing, on either connection.
	before := e.st.PasswordHashes()
	for _, id := range []uint64{1, 2, 1} {
		if got := e.answer(id, "create Alice password1"); got != sessions.MsgCreateAttempts {
			t.Errorf("attempt past the limit on session %d = %q, want %q", id, got, sessions.MsgCreateAttempts)
		}
	}
	if got := e.answer(2, "create Dave password4"); got != sessions.MsgCreateAttempts {
		t.Errorf("a good create past the limit = %q", got)
	}
	if n := e.st.PasswordHashes() - before; n != 0 {
		t.Errorf("refused attempts spent %d hashes", n)
	}
	// Another address has its own count; account_creations (successes)
	// applies after an attempt is let through.
	if got := e.answer(3, "create Erin password5"); !strings.HasPrefix(got, "A new account 'Erin' was created.") {
		t.Fatalf("create from another address = %q", got)
	}
	if got := e.answer(3, "create Fred password6"); got != sessions.MsgCreateThrottled {
		t.Errorf("second account from one address = %q, want %q", got, sessions.MsgCreateThrottled)
	}
}

// TestWhoBeforeLogin: by default `who` before login names nobody and says
// when it can be used, and help says so too; with server.who_before_login
// it lists the accounts online, as Evennia does.
func TestWhoBeforeLogin(t *testing.T) {
	e := newEnv(t, 1)
	e.account("Alice", "secret1")
	e.loginAs(1, "Alice", "secret1")
	e.connect(9)
	for _, line := range []string{"who", "doing"} {
		if got := e.answer(9, line); got != commands.MsgWhoAfterLogin {
			t.Errorf("%s before login = %q, want %q", line, got, commands.MsgWhoAfterLogin)
		}
	}
	if got := e.answer(9, "help"); !strings.Contains(got, "  who - see who is online (once logged in)\n") {
		t.Errorf("help before login does not say who needs a login:\n%s", got)
	}
	// Logged in, who works whatever the setting.
	if got := e.answer(1, "who"); !strings.Contains(got, " Alice ") {
		t.Errorf("who after login = %q", got)
	}

	e.call(func() {
		st := e.h.Settings()
		st.WhoBeforeLogin = true
		e.h.SetSettings(st)
	})
	if got := e.answer(9, "who"); !strings.Contains(got, "\n Alice ") || !strings.HasSuffix(got, "1 unique account logged in.") {
		t.Errorf("who before login with who_before_login = %q", got)
	}
	if got := e.answer(9, "help"); !strings.Contains(got, "  who - see who is online\n") {
		t.Errorf("help with who_before_login:\n%s", got)
	}
}
