package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Ban kinds.
const (
	BanAccount = "account"
	BanAddress = "address"
)

// Ban keeps an account, or an address range, out.
type Ban struct {
	ID        int64
	Kind      string // BanAccount or BanAddress
	Value     string // an account name, or an IP / CIDR prefix
	Reason    string
	CreatedBy string
	Created   time.Time
}

// ErrBanExists is returned when the same ban exists already.
var ErrBanExists = errors.New("that is banned already")

// ParseBanTarget tells an address (IP or CIDR) from an account name and
// normalises it: "10.0.0.7" and "10.0.0.0/8" are addresses, anything else
// a name.
func ParseBanTarget(target string) (kind, value string, err error) {
	target = strings.TrimSpace(target)
	if p, err := netip.ParsePrefix(target); err == nil {
		return BanAddress, p.Masked().String(), nil
	}
	if a, err := netip.ParseAddr(target); err == nil {
		return BanAddress, netip.PrefixFrom(a, a.BitLen()).String(), nil
	}
	if reason := nameProblem(target); reason != "" {
		return "", "", fmt.Errorf("%q is neither an address, a CIDR range nor an account name", target)
	}
	return BanAccount, target, nil
}

// AddBan stores a ban.
func (s *Store) AddBan(ctx context.Context, kind, value, reason, by string) (Ban, error) {
	now := time.Now()
	var id int64
	if err := s.w.QueryRowContext(ctx, "INSERT INTO bans (kind, value, reason, created_by, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
		kind, value, reason, by, now.UnixMilli()).Scan(&id); err != nil {
		if errors.Is(uniqueToNameTaken(err), ErrNameTaken) {
			return Ban{}, fmt.Errorf("store: ban %s %s: %w", kind, value, ErrBanExists)
		}
		return Ban{}, fmt.Errorf("store: ban %s %s: %w", kind, value, err)
	}
	return Ban{ID: id, Kind: kind, Value: value, Reason: reason, CreatedBy: by, Created: time.UnixMilli(now.UnixMilli()).UTC()}, nil
}

// RemoveBan deletes a ban by kind and value.
func (s *Store) RemoveBan(ctx context.Context, kind, value string) error {
	res, err := s.w.ExecContext(ctx, "DELETE FROM bans WHERE kind = ? AND value = ?", kind, value)
	if err != nil {
		return fmt.Errorf("store: unban %s: %w", value, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: unban %s: %w", value, ErrNotFound)
	}
	return nil
}

// Bans lists every ban, oldest first.
func (s *Store) Bans(ctx context.Context) ([]Ban, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id, kind, value, reason, created_by, created_at FROM bans ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("store: bans: %w", err)
	}
	defer rows.Close()
	var out []Ban
	for rows.Next() {
		var b Ban
		var created int64
		if err := rows.Scan(&b.ID, &b.Kind, &b.Value, &b.Reason, &b.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("store: bans: %w", err)
		}
		b.Created = time.UnixMilli(created).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}
