package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// ThrottleEntry is one throttle counter: the times of the events it
// counts, and when the newest of them stops counting.
type ThrottleEntry struct {
	Key string
	// Hits are the event times, oldest first. None means the counter is
	// gone (SaveThrottles deletes it).
	Hits []time.Time
	// Expires is when the entry counts for nothing any more.
	Expires time.Time
}

// SaveThrottles writes entries in one transaction, replacing what was
// stored under their keys (an entry without hits deletes its key), and
// prunes every entry that expired before now.
func (s *Store) SaveThrottles(ctx context.Context, entries []ThrottleEntry, now time.Time) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: save throttles: %w", err)
	}
	defer tx.Rollback()
	for _, e := range entries {
		if len(e.Hits) == 0 {
			if _, err := tx.ExecContext(ctx, "DELETE FROM throttles WHERE key = ?", e.Key); err != nil {
				return fmt.Errorf("store: save throttles: %w", err)
			}
			continue
		}
		ms := make([]int64, len(e.Hits))
		for i, t := range e.Hits {
			ms[i] = t.UnixMilli()
		}
		hits, err := json.Marshal(ms)
		if err != nil {
			return fmt.Errorf("store: save throttles: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO throttles (key, hits, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET hits = excluded.hits, expires_at = excluded.expires_at`,
			e.Key, string(hits), e.Expires.UnixMilli()); err != nil {
			return fmt.Errorf("store: save throttles: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM throttles WHERE expires_at < ?", now.UnixMilli()); err != nil {
		return fmt.Errorf("store: save throttles: prune: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: save throttles: %w", err)
	}
	return nil
}

// LoadThrottles prunes the entries that expired before now and returns
// the others. A row that does not parse is skipped.
func (s *Store) LoadThrottles(ctx context.Context, now time.Time) ([]ThrottleEntry, error) {
	if _, err := s.w.ExecContext(ctx, "DELETE FROM throttles WHERE expires_at < ?", now.UnixMilli()); err != nil {
		return nil, fmt.Errorf("store: load throttles: prune: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, "SELECT key, hits, expires_at FROM throttles ORDER BY key")
	if err != nil {
		return nil, fmt.Errorf("store: load throttles: %w", err)
	}
	defer rows.Close()
	var out []ThrottleEntry
	for rows.Next() {
		var (
			key, hits string
			expires   int64
		)
		if err := rows.Scan(&key, &hits, &expires); err != nil {
			return nil, fmt.Errorf("store: load throttles: %w", err)
		}
		var ms []int64
		if err := json.Unmarshal([]byte(hits), &ms); err != nil || len(ms) == 0 {
			continue // written by this code only; a bad row is no reason to refuse to start
		}
		e := ThrottleEntry{Key: key, Expires: time.UnixMilli(expires), Hits: make([]time.Time, len(ms))}
		for i, m := range ms {
			e.Hits[i] = time.UnixMilli(m)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load throttles: %w", err)
	}
	return out, nil
}
