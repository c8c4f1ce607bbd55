package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AttributeChange is one change to the attributes table: Value set for
// (Kind, ID, Key), or the row deleted when Delete is set.
type AttributeChange struct {
	Kind string
	ID   int64
	Key  string
	// Value is the attribute's JSON; unused when Delete is set.
	Value  string
	Delete bool
}

// Attributes returns every attribute of the owner (kind, id), by key, as
// stored (JSON text).
func (s *Store) Attributes(ctx context.Context, kind string, id int64) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT key, value FROM attributes WHERE owner_kind = ? AND owner_id = ?", kind, id)
	if err != nil {
		return nil, fmt.Errorf("store: attributes of %s %d: %w", kind, id, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("store: attributes of %s %d: %w", kind, id, err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: attributes of %s %d: %w", kind, id, err)
	}
	return out, nil
}

// ApplyAttributes makes changes, in order, in one transaction: all are
// durable when it returns nil, or none is made. One transaction for a
// burst of changes costs one disk flush.
func (s *Store) ApplyAttributes(ctx context.Context, changes []AttributeChange) error {
	if len(changes) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: attributes: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().UnixMilli()
	var set, del *sql.Stmt
	for _, c := range changes {
		if c.Delete {
			if del == nil {
				if del, err = tx.PrepareContext(ctx,
					"DELETE FROM attributes WHERE owner_kind = ? AND owner_id = ? AND key = ?"); err != nil {
					return fmt.Errorf("store: attributes: %w", err)
				}
				defer del.Close()
			}
			_, err = del.ExecContext(ctx, c.Kind, c.ID, c.Key)
		} else {
			if set == nil {
				if set, err = tx.PrepareContext(ctx, `INSERT INTO attributes (owner_kind, owner_id, key, value, updated_at)
					VALUES (?, ?, ?, ?, ?)
					ON CONFLICT (owner_kind, owner_id, key) DO UPDATE SET value = excluded.value,
						updated_at = excluded.updated_at`); err != nil {
					return fmt.Errorf("store: attributes: %w", err)
				}
				defer set.Close()
			}
			_, err = set.ExecContext(ctx, c.Kind, c.ID, c.Key, c.Value, now)
		}
		if err != nil {
			return fmt.Errorf("store: attributes: %s %d %q: %w", c.Kind, c.ID, c.Key, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: attributes: commit: %w", err)
	}
	return nil
}
