package store

import (
	"context"
	"fmt"
)

// What an operator does to accounts from the command line (portico
// account list, delete, passwd): the host's control socket runs these when
// a host is up, so that its sessions follow; `portico` runs them itself
// otherwise.

// Accounts returns every account, ordered by id.
func (s *Store) Accounts(ctx context.Context) ([]Account, error) {
	rows, err := s.r.QueryContext(ctx, selectAccount+" FROM accounts ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("store: accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var a Account
		if err := scanAccount(rows, &a); err != nil {
			return nil, fmt.Errorf("store: accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: accounts: %w", err)
	}
	return out, nil
}

// DeleteAccount deletes the account with the given id and what is its
// alone (its characters, SSH keys, channel memberships, the bot it is, its
// saved session logins), or returns an error wrapping ErrNotFound. Ids are
// never reused, so game attributes kept under its id (core/attrs) name
// nobody once it is gone.
func (s *Store) DeleteAccount(ctx context.Context, id int64) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: delete account %d: %w", id, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM session_logins WHERE uid = ?", id); err != nil {
		return fmt.Errorf("store: delete account %d: %w", id, err)
	}
	// The account row points at its character (character_id) and the
	// character at the account (account_id, ON DELETE CASCADE): deleting
	// the account takes the characters with it.
	res, err := tx.ExecContext(ctx, "DELETE FROM accounts WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("store: delete account %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: delete account %d: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("store: delete account %d: %w", id, ErrNotFound)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: delete account %d: %w", id, err)
	}
	return nil
}

// SetPassword replaces the password of the account with the given id
// (checked by ValidatePassword, hashed with the store's argon2id
// parameters), or returns an error wrapping ErrNotFound or
// ErrInvalidPassword.
func (s *Store) SetPassword(ctx context.Context, id int64, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return fmt.Errorf("store: set password %d: %w", id, err)
	}
	res, err := s.w.ExecContext(ctx, "UPDATE accounts SET password = ? WHERE id = ?", hash, id)
	if err != nil {
		return fmt.Errorf("store: set password %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: set password %d: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("store: set password %d: %w", id, ErrNotFound)
	}
	return nil
}
