package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHKey is a public key registered to log an account in over SSH.
type SSHKey struct {
	ID          int64
	AccountID   int64
	Fingerprint string // SHA256:...
	PublicKey   string // authorized_keys form, without comment
	Comment     string
	Created     time.Time
}

// ErrKeyTaken is returned when a key is already registered (to any account).
var ErrKeyTaken = errors.New("that key is already registered")

// ErrBadKey is returned for text that is not a public key.
var ErrBadKey = errors.New("not an SSH public key (expected a line such as \"ssh-ed25519 AAAA... comment\")")

// maxKeysPerAccount bounds how many keys one account may register.
const maxKeysPerAccount = 32

// ParseAuthorizedKey parses one authorized_keys line.
func ParseAuthorizedKey(line string) (ssh.PublicKey, string, error) {
	line = strings.TrimSpace(line)
	if line == "" || len(line) > 16<<10 {
		return nil, "", ErrBadKey
	}
	key, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil || len(strings.TrimSpace(string(rest))) > 0 {
		return nil, "", ErrBadKey
	}
	return key, comment, nil
}

// AddSSHKey registers a public key (an authorized_keys line) for an account.
func (s *Store) AddSSHKey(ctx context.Context, accountID int64, line string) (SSHKey, error) {
	key, comment, err := ParseAuthorizedKey(line)
	if err != nil {
		return SSHKey{}, fmt.Errorf("store: add ssh key: %w", err)
	}
	k := SSHKey{AccountID: accountID, Fingerprint: ssh.FingerprintSHA256(key),
		PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))), Comment: comment, Created: time.Now()}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return SSHKey{}, fmt.Errorf("store: add ssh key: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM ssh_keys WHERE account_id = ?", accountID).Scan(&n); err != nil {
		return SSHKey{}, fmt.Errorf("store: add ssh key: %w", err)
	}
	if n >= maxKeysPerAccount {
		return SSHKey{}, fmt.Errorf("store: add ssh key: an account may have at most %d keys", maxKeysPerAccount)
	}
	var taken int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM ssh_keys WHERE fingerprint = ?", k.Fingerprint).Scan(&taken); err != nil {
		return SSHKey{}, fmt.Errorf("store: add ssh key: %w", err)
	}
	if taken > 0 {
		return SSHKey{}, fmt.Errorf("store: add ssh key: %w", ErrKeyTaken)
	}
	if err := tx.QueryRowContext(ctx, "INSERT INTO ssh_keys (account_id, fingerprint, public_key, comment, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
		accountID, k.Fingerprint, k.PublicKey, k.Comment, k.Created.UnixMilli()).Scan(&k.ID); err != nil {
		return SSHKey{}, fmt.Errorf("store: add ssh key: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return SSHKey{}, fmt.Errorf("store: add ssh key: %w", err)
	}
	return k, nil
}

// SSHKeys lists an account's keys, oldest first.
func (s *Store) SSHKeys(ctx context.Context, accountID int64) ([]SSHKey, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id, account_id, fingerprint, public_key, comment, created_at FROM ssh_keys WHERE account_id = ? ORDER BY id", accountID)
	if err != nil {
		return nil, fmt.Errorf("store: ssh keys: %w", err)
	}
	defer rows.Close()
	var out []SSHKey
	for rows.Next() {
		var k SSHKey
		var created int64
		if err := rows.Scan(&k.ID, &k.AccountID, &k.Fingerprint, &k.PublicKey, &k.Comment, &created); err != nil {
			return nil, fmt.Errorf("store: ssh keys: %w", err)
		}
		k.Created = time.UnixMilli(created)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: ssh keys: %w", err)
	}
	return out, nil
}

// RemoveSSHKey removes one of an account's keys by fingerprint.
func (s *Store) RemoveSSHKey(ctx context.Context, accountID int64, fingerprint string) error {
	res, err := s.w.ExecContext(ctx, "DELETE FROM ssh_keys WHERE account_id = ? AND fingerprint = ?", accountID, fingerprint)
	if err != nil {
		return fmt.Errorf("store: remove ssh key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: remove ssh key %s: %w", fingerprint, ErrNotFound)
	}
	return nil
}

// AuthenticateKey returns the account called name if key (SSH wire format)
// is registered to it. Any mismatch is ErrBadCredentials.
func (s *Store) AuthenticateKey(ctx context.Context, name string, wireKey []byte) (Account, error) {
	key, err := ssh.ParsePublicKey(wireKey)
	if err != nil {
		return Account{}, fmt.Errorf("store: authenticate key: %w", ErrBadCredentials)
	}
	if !lookupName(name) {
		return Account{}, fmt.Errorf("store: authenticate key for %q: %w", truncate(name, 40), ErrBadCredentials)
	}
	var acc Account
	row := s.r.QueryRowContext(ctx, "SELECT a.id, a.name, a.is_admin, a.character_id, a.created_at, a.last_login FROM accounts a JOIN ssh_keys k ON k.account_id = a.id WHERE k.fingerprint = ? AND a.name = ?",
		ssh.FingerprintSHA256(key), name)
	if err := scanAccount(row, &acc); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Account{}, fmt.Errorf("store: authenticate key for %q: %w", name, ErrBadCredentials)
		}
		return Account{}, fmt.Errorf("store: authenticate key for %q: %w", name, err)
	}
	return acc, nil
}
