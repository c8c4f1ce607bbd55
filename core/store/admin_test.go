package store_test

import (
	"errors"
	"testing"

	"github.com/portico-mud/portico/core/store"
)

// TestAccountsDeleteAndSetPassword: Accounts lists every account in id
// order; SetPassword replaces the password (the old one no longer logs in)
// and refuses a bad one; DeleteAccount removes the account with its
// character, keys and memberships, frees its name, and reports a missing
// account as ErrNotFound.
func TestAccountsDeleteAndSetPassword(t *testing.T) {
	store.EachBackend(t, testAccountsDeleteAndSetPassword)
}

func testAccountsDeleteAndSetPassword(t *testing.T, db store.TestDB) {
	s := openAt(t, db.Location)
	ctx := testCtx(t)
	alice, err := s.CreateAccount(ctx, "Alice", "alicepass", false)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreateAccount(ctx, "Bob", "bobpass1", true)
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.Accounts(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "Alice" || list[1].Name != "Bob" || !list[1].IsAdmin {
		t.Fatalf("Accounts = %+v, %v", list, err)
	}

	if err := s.SetPassword(ctx, alice.ID, "newalicepass"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "Alice", "alicepass"); !errors.Is(err, store.ErrBadCredentials) {
		t.Errorf("old password: %v", err)
	}
	if _, err := s.Authenticate(ctx, "Alice", "newalicepass"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := s.SetPassword(ctx, alice.ID, "x"); !errors.Is(err, store.ErrInvalidPassword) {
		t.Errorf("short password: %v", err)
	}
	if err := s.SetPassword(ctx, 999, "goodpassword"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing account: %v", err)
	}

	if _, err := s.AddSSHKey(ctx, bob.ID, func() string { _, l := newKey(t); return l }()); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AccountByName(ctx, "Bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted account found: %v", err)
	}
	if _, err := s.CharacterByID(ctx, bob.CharacterID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted account's character found: %v", err)
	}
	if keys, err := s.SSHKeys(ctx, bob.ID); err != nil || len(keys) != 0 {
		t.Errorf("deleted account's keys: %v, %v", keys, err)
	}
	if err := s.DeleteAccount(ctx, bob.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if _, err := s.CreateAccount(ctx, "bob", "bobpass2", false); err != nil {
		t.Errorf("name not freed: %v", err)
	}
	if n, _ := s.CountAccounts(ctx); n != 2 {
		t.Errorf("%d accounts, want 2", n)
	}
}
