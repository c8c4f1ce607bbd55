package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Name and password rules, as ValidateName and ValidatePassword apply them.
const (
	// MinNameLen is the shortest allowed name, in characters.
	MinNameLen = 3
	// MaxNameLen is the longest allowed name, in characters.
	MaxNameLen = 30
	// MinPasswordLen is the shortest allowed password, in characters
	// (Unicode code points).
	MinPasswordLen = 3
	// MaxPasswordBytes is the longest allowed password, in bytes.
	MaxPasswordBytes = 1024

	// maxLookupNameLength bounds the names looked up at all, in bytes.
	maxLookupNameLength = 256
)

// Account is a login: a name, a password (kept only as a hash) and the
// character it plays.
type Account struct {
	// ID is the account's id; ids are never reused.
	ID int64
	// Name is the account name as created, in its original letter case.
	Name string
	// IsAdmin reports whether the account has administrative rights.
	IsAdmin bool
	// CharacterID is the id of the account's character, or 0 if it has none.
	CharacterID int64
	// Created is when the account was created.
	Created time.Time
	// LastLogin is the time of the last successful Authenticate, or the
	// zero time if there has been none.
	LastLogin time.Time
}

// Character is an in-game persona. Every account gets one, of the same
// name, when it is created.
type Character struct {
	// ID is the character's id; ids are never reused.
	ID int64
	// Name is the character's name in its original letter case.
	Name string
	// AccountID is the id of the account that owns the character.
	AccountID int64
}

// ValidateName returns nil if name is acceptable for a new account or
// character (3 to 30 characters: ASCII letters, digits, '_' and '-', starting
// with a letter) and otherwise an error, wrapping ErrInvalidName, that says
// what is wrong.
func ValidateName(name string) error {
	if reason := nameProblem(name); reason != "" {
		return fmt.Errorf("store: name %q: %w: %s", truncate(name, 40), ErrInvalidName, reason)
	}
	return nil
}

// ValidatePassword returns nil if password is acceptable for a new account
// (at least 3 characters and at most 1024 bytes) and otherwise an error,
// wrapping ErrInvalidPassword, that says what is wrong without quoting the
// password.
func ValidatePassword(password string) error {
	if reason := passwordProblem(password); reason != "" {
		return fmt.Errorf("store: password: %w: %s", ErrInvalidPassword, reason)
	}
	return nil
}

// nameProblem returns why name is invalid, or "" if it is valid. Names are
// restricted to ASCII so that SQLite's NOCASE collation, which folds ASCII
// only, makes them unique regardless of case (PostgreSQL's nocase folds
// more, and agrees on ASCII), and so that no two names look alike.
func nameProblem(name string) string {
	if len(name) < MinNameLen || len(name) > MaxNameLen {
		return fmt.Sprintf("must be %d to %d characters long", MinNameLen, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if i == 0 && !letter {
			return "must start with a letter"
		}
		if !letter && !('0' <= c && c <= '9') && c != '_' && c != '-' {
			return "may contain only letters, digits, '_' and '-'"
		}
	}
	return ""
}

// lookupName reports whether name could be a stored name at all, and so
// is worth a query: at most maxLookupNameLength bytes of valid UTF-8
// without a NUL. Every stored name is, and PostgreSQL refuses text that is
// not as an error rather than finding nothing.
func lookupName(name string) bool {
	return len(name) <= maxLookupNameLength && utf8.ValidString(name) && !strings.ContainsRune(name, 0)
}

// passwordProblem returns why password is invalid, or "" if it is valid.
func passwordProblem(password string) string {
	switch {
	case len(password) > MaxPasswordBytes:
		return fmt.Sprintf("must be at most %d bytes long", MaxPasswordBytes)
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return fmt.Sprintf("must be at least %d characters long", MinPasswordLen)
	}
	return ""
}

// CreateAccount creates an account with a character of the same name that
// it owns, in one transaction, and returns the account. The name must pass
// ValidateName and the password ValidatePassword; the password is stored as
// an argon2id hash made with the Store's parameters. The name is unique
// regardless of letter case and keeps the case given. Errors wrap
// ErrInvalidName, ErrInvalidPassword or ErrNameTaken as the case may be.
func (s *Store) CreateAccount(ctx context.Context, name, password string, admin bool) (Account, error) {
	if reason := nameProblem(name); reason != "" {
		return Account{}, fmt.Errorf("store: create account %q: %w: %s", truncate(name, 40), ErrInvalidName, reason)
	}
	if reason := passwordProblem(password); reason != "" {
		return Account{}, fmt.Errorf("store: create account %q: %w: %s", name, ErrInvalidPassword, reason)
	}
	// Hash before taking the write lock: argon2 is deliberately slow.
	hash, err := s.hashPassword(password)
	if err != nil {
		return Account{}, fmt.Errorf("store: create account %q: %w", name, err)
	}
	acc, err := s.insertAccount(ctx, name, hash, admin)
	if err != nil {
		return Account{}, fmt.Errorf("store: create account %q: %w", name, err)
	}
	return acc, nil
}

// NameTaken reports whether an account or a character already has name,
// in any letter case: the cheap check `create` makes before any hashing.
// CreateAccount checks again when it writes, so a name taken meanwhile
// still gives ErrNameTaken.
func (s *Store) NameTaken(ctx context.Context, name string) (bool, error) {
	if !lookupName(name) {
		return false, nil // no stored name is like that
	}
	var taken bool
	if err := s.r.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM accounts WHERE name = ?1) OR
		EXISTS (SELECT 1 FROM characters WHERE name = ?1)`, name).Scan(&taken); err != nil {
		return false, fmt.Errorf("store: name taken %q: %w", truncate(name, 40), err)
	}
	return taken, nil
}

// insertAccount writes the account and its character.
func (s *Store) insertAccount(ctx context.Context, name, hash string, admin bool) (Account, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Account{}, err
	}
	defer tx.Rollback()

	// The transaction holds the write lock, so nobody can take the name
	// between this check and the inserts; the unique indexes back it up.
	var taken bool
	if err := tx.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM accounts WHERE name = ?1) OR
		EXISTS (SELECT 1 FROM characters WHERE name = ?1)`, name).Scan(&taken); err != nil {
		return Account{}, err
	}
	if taken {
		return Account{}, ErrNameTaken
	}

	now := time.Now()
	ms := now.UnixMilli()
	var accID, charID int64
	if err := tx.QueryRowContext(ctx,
		"INSERT INTO accounts (name, password, is_admin, created_at) VALUES (?, ?, ?, ?) RETURNING id",
		name, hash, admin, ms).Scan(&accID); err != nil {
		return Account{}, uniqueToNameTaken(err)
	}
	if err := tx.QueryRowContext(ctx,
		"INSERT INTO characters (name, account_id, created_at) VALUES (?, ?, ?) RETURNING id",
		name, accID, ms).Scan(&charID); err != nil {
		return Account{}, uniqueToNameTaken(err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE accounts SET character_id = ? WHERE id = ?", charID, accID); err != nil {
		return Account{}, err
	}
	// Every account is on the default channel.
	if _, err := tx.ExecContext(ctx, "INSERT INTO channel_members (channel_id, account_id) SELECT id, CAST(? AS BIGINT) FROM channels WHERE name = ?",
		accID, DefaultChannel); err != nil {
		return Account{}, err
	}
	if err := tx.Commit(); err != nil {
		return Account{}, err
	}
	return Account{
		ID:          accID,
		Name:        name,
		IsAdmin:     admin,
		CharacterID: charID,
		Created:     time.UnixMilli(ms).UTC(),
	}, nil
}

// uniqueToNameTaken turns a UNIQUE constraint failure, of either
// database, into ErrNameTaken.
func uniqueToNameTaken(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || isUniqueViolation(err) {
		return ErrNameTaken
	}
	return err
}

// Authenticate checks name (in any letter case) and password and returns
// the account, with LastLogin set to now, which is also recorded. An unknown
// name and a wrong password both give an error wrapping ErrBadCredentials,
// and cost the same argon2 work, so that neither the answer nor its timing
// tells whether an account exists. A hash made with parameters other than
// the Store's is replaced by a fresh one on success.
func (s *Store) Authenticate(ctx context.Context, name, password string) (Account, error) {
	bad := fmt.Errorf("store: authenticate %q: %w", truncate(name, 40), ErrBadCredentials)
	if len(password) > MaxPasswordBytes {
		return Account{}, bad // no account has such a password; the name is not looked at
	}
	var (
		acc     Account
		encoded string
		found   bool
	)
	if lookupName(name) {
		row := s.r.QueryRowContext(ctx, selectAccount+", password FROM accounts WHERE name = ?", name)
		switch err := scanAccount(row, &acc, &encoded); {
		case err == nil:
			found = true
		case !errors.Is(err, ErrNotFound):
			return Account{}, fmt.Errorf("store: authenticate %q: %w", name, err)
		}
	}
	if !found {
		encoded = s.dummyHash
	}
	ok, err := s.verifyPassword(encoded, password)
	if err != nil {
		return Account{}, fmt.Errorf("store: authenticate %q: stored hash: %w", name, err)
	}
	if !found || !ok {
		return Account{}, bad
	}

	var rehash string
	if needsRehash(encoded, s.params) {
		if h, err := s.hashPassword(password); err == nil {
			rehash = h
		}
	}
	now := time.UnixMilli(time.Now().UnixMilli()).UTC()
	res, err := s.w.ExecContext(ctx,
		"UPDATE accounts SET last_login = ?, password = coalesce(nullif(?, ''), password) WHERE id = ?",
		now.UnixMilli(), rehash, acc.ID)
	if err != nil {
		return Account{}, fmt.Errorf("store: authenticate %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Account{}, fmt.Errorf("store: authenticate %q: %w", name, err)
	} else if n == 0 {
		return Account{}, bad // deleted meanwhile
	}
	acc.LastLogin = now
	return acc, nil
}

// selectAccount selects the columns scanAccount reads.
const selectAccount = "SELECT id, name, is_admin, character_id, created_at, last_login"

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// scanAccount scans one row of selectAccount columns, followed by extra.
// sql.ErrNoRows becomes ErrNotFound.
func scanAccount(row rowScanner, acc *Account, extra ...any) error {
	var (
		charID    sql.NullInt64
		created   int64
		lastLogin sql.NullInt64
	)
	dest := append([]any{&acc.ID, &acc.Name, &acc.IsAdmin, &charID, &created, &lastLogin}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	}
	acc.CharacterID = charID.Int64
	acc.Created = time.UnixMilli(created).UTC()
	acc.LastLogin = time.Time{}
	if lastLogin.Valid {
		acc.LastLogin = time.UnixMilli(lastLogin.Int64).UTC()
	}
	return nil
}

// AccountByID returns the account with the given id, or an error wrapping
// ErrNotFound.
func (s *Store) AccountByID(ctx context.Context, id int64) (Account, error) {
	var acc Account
	row := s.r.QueryRowContext(ctx, selectAccount+" FROM accounts WHERE id = ?", id)
	if err := scanAccount(row, &acc); err != nil {
		return Account{}, fmt.Errorf("store: account %d: %w", id, err)
	}
	return acc, nil
}

// AccountByName returns the account with the given name in any letter case,
// or an error wrapping ErrNotFound.
func (s *Store) AccountByName(ctx context.Context, name string) (Account, error) {
	if !lookupName(name) {
		return Account{}, fmt.Errorf("store: account %q: %w", truncate(name, 40), ErrNotFound)
	}
	var acc Account
	row := s.r.QueryRowContext(ctx, selectAccount+" FROM accounts WHERE name = ?", name)
	if err := scanAccount(row, &acc); err != nil {
		return Account{}, fmt.Errorf("store: account %q: %w", name, err)
	}
	return acc, nil
}

// CharacterByID returns the character with the given id, or an error
// wrapping ErrNotFound.
func (s *Store) CharacterByID(ctx context.Context, id int64) (Character, error) {
	var c Character
	err := s.r.QueryRowContext(ctx, "SELECT id, name, account_id FROM characters WHERE id = ?", id).
		Scan(&c.ID, &c.Name, &c.AccountID)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Character{}, fmt.Errorf("store: character %d: %w", id, err)
	}
	return c, nil
}

// CountAccounts returns the number of accounts.
func (s *Store) CountAccounts(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM accounts").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count accounts: %w", err)
	}
	return n, nil
}

// SetAdmin grants (admin true) or revokes administrative rights of the
// account with the given id, or returns an error wrapping ErrNotFound.
func (s *Store) SetAdmin(ctx context.Context, id int64, admin bool) error {
	res, err := s.w.ExecContext(ctx, "UPDATE accounts SET is_admin = ? WHERE id = ?", admin, id)
	if err != nil {
		return fmt.Errorf("store: set admin %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: set admin %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("store: set admin %d: %w", id, ErrNotFound)
	}
	return nil
}
