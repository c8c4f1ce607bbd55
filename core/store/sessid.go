package store

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// ReserveSessids reserves n session ids and returns the first; the ids
// start, start+1, …, start+n-1 are the caller's. Session ids start at 1 and
// are never handed out twice while the database lives, across Close and
// Open and across processes sharing the file: the high-water mark is
// persisted and advanced in one IMMEDIATE transaction before the ids are
// returned. Ids reserved but never used are simply skipped. n must be at
// least 1.
func (s *Store) ReserveSessids(ctx context.Context, n uint64) (start uint64, err error) {
	return s.reserveSessids(ctx, "", n, false)
}

// SessidRange is a block of session ids: Start, Start+1, …, Start+Count-1.
type SessidRange struct {
	Start, Count uint64
}

// Contains reports whether id is in r.
func (r SessidRange) Contains(id uint64) bool { return id >= r.Start && id-r.Start < r.Count }

// GrantSessids reserves n session ids as ReserveSessids does and records,
// in the same transaction, that they were granted to plugin: the host
// accepts a plugin's sessions only with ids from its own grants, and finds
// them again after a reload or a restart. fresh (a plugin launched afresh,
// whose earlier sessions died with its process) drops the plugin's earlier
// grants first.
func (s *Store) GrantSessids(ctx context.Context, plugin string, n uint64, fresh bool) (start uint64, err error) {
	if plugin == "" {
		return 0, errors.New("store: grant sessids: no plugin")
	}
	return s.reserveSessids(ctx, plugin, n, fresh)
}

// reserveSessids reserves n ids, recording them as plugin's unless plugin
// is "".
func (s *Store) reserveSessids(ctx context.Context, plugin string, n uint64, fresh bool) (start uint64, err error) {
	if n == 0 {
		return 0, errors.New("store: reserve sessids: n must be at least 1")
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("store: reserve sessids: n %d too large", n)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: reserve sessids: %w", err)
	}
	defer tx.Rollback()
	var hwm int64
	if err := tx.QueryRowContext(ctx, "SELECT value FROM counters WHERE name = 'sessid'").Scan(&hwm); err != nil {
		return 0, fmt.Errorf("store: reserve sessids: read high-water mark: %w", err)
	}
	if hwm < 0 || uint64(hwm) > math.MaxInt64-n {
		return 0, fmt.Errorf("store: reserve sessids: %d more after %d would overflow", n, hwm)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE counters SET value = ? WHERE name = 'sessid'", hwm+int64(n)); err != nil {
		return 0, fmt.Errorf("store: reserve sessids: %w", err)
	}
	if plugin != "" {
		if fresh {
			if _, err := tx.ExecContext(ctx, "DELETE FROM sessid_grants WHERE plugin = ?", plugin); err != nil {
				return 0, fmt.Errorf("store: grant sessids to %s: %w", plugin, err)
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO sessid_grants (plugin, start, count) VALUES (?, ?, ?)",
			plugin, hwm+1, int64(n)); err != nil {
			return 0, fmt.Errorf("store: grant sessids to %s: %w", plugin, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: reserve sessids: commit: %w", err)
	}
	return uint64(hwm) + 1, nil
}

// SessidGrants returns the blocks granted to plugin, and those granted
// before grants were recorded (an upgrade's running plugins may still use
// them), in order.
func (s *Store) SessidGrants(ctx context.Context, plugin string) ([]SessidRange, error) {
	rows, err := s.r.QueryContext(ctx,
		"SELECT start, count FROM sessid_grants WHERE plugin = ? OR plugin = '' ORDER BY start", plugin)
	if err != nil {
		return nil, fmt.Errorf("store: sessid grants of %s: %w", plugin, err)
	}
	defer rows.Close()
	var out []SessidRange
	for rows.Next() {
		var start, count int64
		if err := rows.Scan(&start, &count); err != nil {
			return nil, fmt.Errorf("store: sessid grants of %s: %w", plugin, err)
		}
		out = append(out, SessidRange{Start: uint64(start), Count: uint64(count)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: sessid grants of %s: %w", plugin, err)
	}
	return out, nil
}
