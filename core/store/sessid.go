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
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: reserve sessids: commit: %w", err)
	}
	return uint64(hwm) + 1, nil
}
