package pki

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"sync"

	"github.com/portico-mud/portico/core/config"
)

// revocations is the set of revoked serials as revoked.json last held it.
// A handshake checks it; it re-reads the file when the file has changed
// (another process, such as `portico portal revoke` with no host running
// to ask, may have rewritten it), so that a revocation applies at the next
// handshake without a restart.
type revocations struct {
	path string

	mu      sync.Mutex
	loaded  bool
	stat    os.FileInfo       // the file when last read; nil if it was missing
	serials map[string]string // revoked serial (hex) -> the name it was issued to
}

// reload reads the file whatever its state.
func (r *revocations) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readLocked()
}

// readLocked reads the file. It takes the file's state before reading: if
// the file is replaced in between, the state kept is the older one, and the
// next lookup reads it again, so a change is never missed.
func (r *revocations) readLocked() error {
	fi, err := os.Stat(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		fi = nil
	} else if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	rs, err := readRecords(r.path)
	if err != nil {
		return err
	}
	serials := make(map[string]string, len(rs))
	for _, rec := range rs {
		serials[rec.Serial] = rec.Name
	}
	r.loaded, r.stat, r.serials = true, fi, serials
	return nil
}

// lookup reports whether serial is revoked, and to whom it was issued.
func (r *revocations) lookup(serial *big.Int) (string, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fi, err := os.Stat(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		fi = nil
	} else if err != nil {
		return "", false, fmt.Errorf("pki: %w", err)
	}
	if !r.loaded || changed(r.stat, fi) {
		if err := r.readLocked(); err != nil {
			return "", false, err
		}
	}
	name, ok := r.serials[serialHex(serial)]
	return name, ok, nil
}

// changed reports whether a file differs from when it was last seen: it
// appeared, went, was replaced (every write is a rename, so a new inode),
// or was written in place.
func changed(old, cur os.FileInfo) bool {
	if old == nil || cur == nil {
		return old != cur
	}
	return !os.SameFile(old, cur) || !old.ModTime().Equal(cur.ModTime()) || old.Size() != cur.Size()
}

// IsRevoked reports whether the certificate with serial has been revoked,
// by this process or another one.
func (a *Authority) IsRevoked(serial *big.Int) (bool, error) {
	_, ok, err := a.revoke.lookup(serial)
	return ok, err
}

// ServerConfig returns the TLS configuration for the host's
// server.portal_listen: TLS 1.3 only (no older version to downgrade to),
// the host's certificate, and a client certificate required and verified
// against this CA alone. A certificate that verifies but has been revoked
// is refused in VerifyConnection, which reads the revocations as they are
// at that handshake: a Revoke, in this process or another, needs no
// restart. If the revocations cannot be read, the handshake is refused:
// a broken file must not let a revoked edge in.
func (a *Authority) ServerConfig() (*tls.Config, error) {
	if a.host.Leaf == nil {
		return nil, errors.New("pki: server config: the authority has no host certificate")
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{a.host},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    a.roots,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("pki: no client certificate")
			}
			leaf := cs.PeerCertificates[0]
			name, revoked, err := a.revoke.lookup(leaf.SerialNumber)
			if err != nil {
				return fmt.Errorf("pki: check revocation of %q: %w", leaf.Subject.CommonName, err)
			}
			if revoked {
				return fmt.Errorf("pki: the certificate of %s (serial %s) is revoked", name, serialHex(leaf.SerialNumber))
			}
			return nil
		},
	}, nil
}

// PeerName returns the name of the plugin at the other end of a connection
// that ServerConfig accepted: its verified client certificate's common
// name, which is its plugins.<name> block. It errors when the connection
// has no verified certificate or the name is not a plugin name.
func PeerName(cs tls.ConnectionState) (string, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", errors.New("pki: the connection has no verified client certificate")
	}
	name := cs.VerifiedChains[0][0].Subject.CommonName
	if err := config.CheckPluginName(name); err != nil {
		return "", fmt.Errorf("pki: client certificate: %w", err)
	}
	return name, nil
}
