package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// SessionLogin is the host's own record that it logged a session in: the
// proof a plugin's word is checked against after a reload or a restart. A
// plugin may report any account for its sessions; only a session whose
// SessionLogin matches is accepted as logged in.
type SessionLogin struct {
	// Sessid is the session's id, unique across plugins and never reused.
	Sessid uint64
	// Plugin is the plugin (config key) the session belongs to.
	Plugin string
	// UID is the account the session is logged in as.
	UID int64
	// PUID is the character it controls, 0 for none.
	PUID int64
}

// SessionLoginChange is one change to the saved logins, made with
// SaveSessionLogin, DeleteSessionLogin or DeletePluginLogins.
type SessionLoginChange struct {
	login  SessionLogin
	delete bool
}

// SaveSessionLogin writes l, replacing the session's earlier row.
func SaveSessionLogin(l SessionLogin) SessionLoginChange { return SessionLoginChange{login: l} }

// DeleteSessionLogin removes the row of session sessid (a session that
// ended). Deleting a row that does not exist is not an error.
func DeleteSessionLogin(sessid uint64) SessionLoginChange {
	return SessionLoginChange{login: SessionLogin{Sessid: sessid}, delete: true}
}

// DeletePluginLogins removes every row of plugin: its sessions are all
// gone (it stopped, crashed, or was launched afresh).
func DeletePluginLogins(plugin string) SessionLoginChange {
	return SessionLoginChange{login: SessionLogin{Plugin: plugin}, delete: true}
}

// String describes the change for logs.
func (c SessionLoginChange) String() string {
	switch {
	case !c.delete:
		return fmt.Sprintf("save login of session %d (plugin %s, uid %d, puid %d)", c.login.Sessid, c.login.Plugin, c.login.UID, c.login.PUID)
	case c.login.Sessid != 0:
		return fmt.Sprintf("delete login of session %d", c.login.Sessid)
	default:
		return fmt.Sprintf("delete logins of plugin %s", c.login.Plugin)
	}
}

// ApplySessionLogins makes changes, in order, in one transaction: they are
// all durable when it returns nil (the database runs synchronous=FULL), or
// none is made. One transaction for many changes is what lets the host
// save a burst of logins with one disk flush.
func (s *Store) ApplySessionLogins(ctx context.Context, changes ...SessionLoginChange) error {
	for _, c := range changes {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("store: session logins: %w", err)
		}
	}
	return s.applySessionLogins(ctx, changes, nil)
}

// ApplyEachSessionLogin makes changes as ApplySessionLogins does, but an
// invalid change does not fail the others: it is skipped, and its own
// error is in invalid (nil for the changes applied, nil itself when all
// are valid). err is the transaction's: when it is not nil, none of the
// valid changes was made. The host saves a burst of many sessions' logins
// at once, and one bad one must not fail the rest.
func (s *Store) ApplyEachSessionLogin(ctx context.Context, changes ...SessionLoginChange) (invalid []error, err error) {
	var skip []bool
	for i, c := range changes {
		if verr := c.Validate(); verr != nil {
			if invalid == nil {
				invalid, skip = make([]error, len(changes)), make([]bool, len(changes))
			}
			invalid[i], skip[i] = fmt.Errorf("store: session logins: %w", verr), true
		}
	}
	return invalid, s.applySessionLogins(ctx, changes, skip)
}

// applySessionLogins applies the changes not marked in skip (nil: all), in
// one transaction.
func (s *Store) applySessionLogins(ctx context.Context, changes []SessionLoginChange, skip []bool) error {
	if len(changes) == 0 || skip != nil && !slices.Contains(skip, false) {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: session logins: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().UnixMilli()
	// Saves and session deletes are prepared once per batch: a burst of
	// logins (or a reattach's clean-up) is thousands of them.
	var save, del *sql.Stmt
	for i, c := range changes {
		if skip != nil && skip[i] {
			continue
		}
		l := c.login
		switch {
		case !c.delete:
			if save == nil {
				if save, err = tx.PrepareContext(ctx, `INSERT INTO session_logins (sessid, plugin, uid, puid, updated_at)
					VALUES (?, ?, ?, ?, ?)
					ON CONFLICT (sessid) DO UPDATE SET plugin = excluded.plugin, uid = excluded.uid,
						puid = excluded.puid, updated_at = excluded.updated_at`); err != nil {
					return fmt.Errorf("store: session logins: %w", err)
				}
				defer save.Close()
			}
			_, err = save.ExecContext(ctx, int64(l.Sessid), l.Plugin, l.UID, l.PUID, now)
		case l.Sessid != 0:
			if del == nil {
				if del, err = tx.PrepareContext(ctx, "DELETE FROM session_logins WHERE sessid = ?"); err != nil {
					return fmt.Errorf("store: session logins: %w", err)
				}
				defer del.Close()
			}
			_, err = del.ExecContext(ctx, int64(l.Sessid))
		default:
			_, err = tx.ExecContext(ctx, "DELETE FROM session_logins WHERE plugin = ?", l.Plugin)
		}
		if err != nil {
			return fmt.Errorf("store: session logins: %s: %w", c, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: session logins: commit: %w", err)
	}
	return nil
}

// Validate reports why c cannot be applied (a save without a session, a
// plugin or an account; a delete naming nothing), or nil.
func (c SessionLoginChange) Validate() error {
	l := c.login
	if l.Sessid > math.MaxInt64 {
		return fmt.Errorf("session id %d out of range", l.Sessid)
	}
	switch {
	case !c.delete && (l.Sessid == 0 || l.Plugin == "" || l.UID <= 0 || l.PUID < 0):
		return fmt.Errorf("%s: incomplete login (want a session id, a plugin and an account)", c)
	case c.delete && l.Sessid == 0 && l.Plugin == "":
		return errors.New("delete names neither a session nor a plugin")
	}
	return nil
}

// SessionLogins returns every saved login of plugin's sessions, by session
// id, in one query: a reattach checks thousands of sessions against it.
func (s *Store) SessionLogins(ctx context.Context, plugin string) (map[uint64]SessionLogin, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT sessid, uid, puid FROM session_logins WHERE plugin = ?", plugin)
	if err != nil {
		return nil, fmt.Errorf("store: session logins of %s: %w", plugin, err)
	}
	defer rows.Close()
	out := map[uint64]SessionLogin{}
	for rows.Next() {
		var sessid, uid, puid int64
		if err := rows.Scan(&sessid, &uid, &puid); err != nil {
			return nil, fmt.Errorf("store: session logins of %s: %w", plugin, err)
		}
		out[uint64(sessid)] = SessionLogin{Sessid: uint64(sessid), Plugin: plugin, UID: uid, PUID: puid}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: session logins of %s: %w", plugin, err)
	}
	return out, nil
}
