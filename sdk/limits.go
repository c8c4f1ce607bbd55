package sdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// ErrRefused is wrapped by NewSession's error when a connection limit
// refused the client; the client has been told and its Conn closed.
var ErrRefused = errors.New("connection refused by a limit")

// refusal is a connection limit's refusal: ErrRefused with what the client
// was told.
type refusal struct{ message string }

func (r *refusal) Error() string        { return "connection refused by a limit: " + r.message }
func (r *refusal) Is(target error) bool { return target == ErrRefused }

// RefusalMessage returns what a client refused by a connection limit was
// told (NewSession's error), so that a plugin whose Conn could not show it
// yet (no socket at that point) can show it itself.
func RefusalMessage(err error) (string, bool) {
	var r *refusal
	if errors.As(err, &r) {
		return r.message, true
	}
	return "", false
}

// Messages clients see from the connection limits.
const (
	MsgTooManyConnections = "Too many connections from your address. Close one and try again."
	msgServerBusy         = "The server is too busy to take new connections. Please try again in a minute."
)

// maxConnectionWait bounds the connection queue: past it a client is
// refused instead of waiting.
const maxConnectionWait = time.Minute

// clientIP returns the address part of a "host:port" client address, or ""
// when address is not an IP (a bot's "#chan@network").
func clientIP(address string) string {
	host := address
	if h, _, err := net.SplitHostPort(address); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	return a.Unmap().String()
}

// admitAddress counts a new connection from ip, or refuses it when the
// address is at its limit.
func (p *Portal) admitAddress(ip string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if limit := p.host.ConnectionsPerIP; limit > 0 && p.perIP[ip] >= limit {
		return false
	}
	p.perIP[ip]++
	return true
}

func (p *Portal) releaseAddress(ip string) {
	if ip == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.perIP[ip] <= 1 {
		delete(p.perIP, ip)
		return
	}
	p.perIP[ip]--
}

// waitTurn applies the connection rate: a token bucket of ConnectionRate
// per second, whose debt is a queue. A client that must wait is told how
// long, as Evennia does ("DoS protection is active").
func (p *Portal) waitTurn(ctx context.Context, s *Session) error {
	p.mu.Lock()
	rate := float64(p.host.ConnectionRate)
	if rate <= 0 {
		p.mu.Unlock()
		return nil
	}
	now := time.Now()
	if p.connTokensAt.IsZero() {
		p.connTokens = rate
	} else {
		p.connTokens = min(rate, p.connTokens+now.Sub(p.connTokensAt).Seconds()*rate)
	}
	p.connTokensAt = now
	wait := time.Duration(0)
	if p.connTokens < 1 {
		wait = time.Duration((1 - p.connTokens) / rate * float64(time.Second))
	}
	if wait > maxConnectionWait {
		p.mu.Unlock()
		return &refusal{message: msgServerBusy}
	}
	p.connTokens--
	name := p.host.ServerName
	p.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	if name == "" {
		name = "The server's"
	}
	s.conn.Send(s, []Message{Text(fmt.Sprintf("%s DoS protection is active. You are queued to connect in %.1f seconds ...",
		name, wait.Seconds()))})
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
