package store

import (
	"context"
	"fmt"
	"time"
)

// MaxCharactersPerAccount bounds how many characters one account may have.
const MaxCharactersPerAccount = 8

// CharactersOf lists an account's characters, oldest first.
func (s *Store) CharactersOf(ctx context.Context, accountID int64) ([]Character, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id, name, account_id FROM characters WHERE account_id = ? ORDER BY id", accountID)
	if err != nil {
		return nil, fmt.Errorf("store: characters of %d: %w", accountID, err)
	}
	defer rows.Close()
	var out []Character
	for rows.Next() {
		var c Character
		if err := rows.Scan(&c.ID, &c.Name, &c.AccountID); err != nil {
			return nil, fmt.Errorf("store: characters of %d: %w", accountID, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CreateCharacter makes another character for an account. Character names
// share the account names' rules and are unique among both.
func (s *Store) CreateCharacter(ctx context.Context, accountID int64, name string) (Character, error) {
	if reason := nameProblem(name); reason != "" {
		return Character{}, fmt.Errorf("store: create character %q: %w: %s", truncate(name, 40), ErrInvalidName, reason)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Character{}, fmt.Errorf("store: create character %q: %w", name, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM characters WHERE account_id = ?", accountID).Scan(&n); err != nil {
		return Character{}, fmt.Errorf("store: create character %q: %w", name, err)
	}
	if n >= MaxCharactersPerAccount {
		return Character{}, fmt.Errorf("store: create character %q: you may have at most %d characters", name, MaxCharactersPerAccount)
	}
	var taken bool
	if err := tx.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM accounts WHERE name = ?1) OR
		EXISTS (SELECT 1 FROM characters WHERE name = ?1)`, name).Scan(&taken); err != nil {
		return Character{}, fmt.Errorf("store: create character %q: %w", name, err)
	}
	if taken {
		return Character{}, fmt.Errorf("store: create character %q: %w", name, ErrNameTaken)
	}
	var id int64
	if err := tx.QueryRowContext(ctx, "INSERT INTO characters (name, account_id, created_at) VALUES (?, ?, ?) RETURNING id",
		name, accountID, time.Now().UnixMilli()).Scan(&id); err != nil {
		return Character{}, fmt.Errorf("store: create character %q: %w", name, uniqueToNameTaken(err))
	}
	if err := tx.Commit(); err != nil {
		return Character{}, fmt.Errorf("store: create character %q: %w", name, err)
	}
	return Character{ID: id, Name: name, AccountID: accountID}, nil
}
