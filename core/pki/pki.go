// Package pki is the host's own certificate authority, for plugins that run
// on other machines and dial the host (server.portal_listen).
//
// The authority lives in one directory, <data_dir>/pki (mode 0700):
//
//   - ca.pem, ca-key.pem: the CA ("Portico portal CA", ECDSA P-256, ten
//     years), created the first time the directory is opened.
//   - host.pem, host-key.pem: the host's server certificate, signed by the
//     CA, for the DNS name identity.HostName ("portico-host"), which edges
//     verify the host by whatever address they reach it at.
//   - issued.json: every client certificate issued, by serial and name.
//   - revoked.json: the serials refused from now on.
//   - lock: flock'ed by whoever changes the directory, so that `portico
//     portal issue` and a running host can work on it at once.
//
// An edge's client certificate carries its plugins.<name> block name as its
// common name: the host knows which block configures a connection by the
// certificate alone, and a revoked name is refused at the next handshake.
//
// The package must not import the plugin manager or the host: both use it.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/portico-mud/portico/sdk/identity"
)

// HostName is the DNS name in the host's certificate (see identity.HostName,
// where it is defined once for both sides).
const HostName = identity.HostName

// CAName is the common name of the CA's certificate.
const CAName = "Portico portal CA"

// The files of the authority's directory.
const (
	caFile      = "ca.pem"
	caKeyFile   = "ca-key.pem"
	hostFile    = "host.pem"
	hostKeyFile = "host-key.pem"
	issuedFile  = "issued.json"
	revokedFile = "revoked.json"
	lockFile    = "lock"
)

// caValidity is how long the CA and the host's certificate are valid: long
// enough that nobody has to think about it for the life of a game server.
const caValidity = 10 * 365 * 24 * time.Hour

// DefaultValidity is how long a client certificate from Issue is valid: a
// year, so that a forgotten edge's certificate ends on its own, while
// renewing it (issue again, copy three files) stays a yearly chore.
const DefaultValidity = 365 * 24 * time.Hour

// clockSkew backdates every certificate's NotBefore, so that an edge whose
// clock is a little behind the host's accepts a certificate issued just now.
const clockSkew = 5 * time.Minute

// Authority is the host's CA, opened from its directory. Its methods are
// safe for concurrent use, and for use by several processes on the same
// directory at once.
type Authority struct {
	dir    string
	ca     *x509.Certificate
	caKey  crypto.Signer
	caPEM  []byte
	host   tls.Certificate
	roots  *x509.CertPool
	revoke revocations

	subsMu sync.Mutex
	subs   []func(name string)
}

// Open opens the authority in dir (<data_dir>/pki), creating the directory
// (0700, with its parents, so that `portico portal issue` works before any
// host has started), the CA and the host's certificate when they are
// missing. Two processes may Open the same directory at once: the one that
// comes second waits on the directory's lock and finds the first one's CA.
func Open(dir string) (*Authority, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: create %s: %w", dir, err)
	}
	// The directory holds the CA's key: whatever mode it was made with
	// before, only its owner may read it.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: chmod %s: %w", dir, err)
	}
	a := &Authority{dir: dir}
	err := a.locked(func() error {
		if err := a.ensureCA(); err != nil {
			return err
		}
		return a.ensureHost()
	})
	if err != nil {
		return nil, err
	}
	a.revoke.path = a.path(revokedFile)
	return a, nil
}

// Dir returns the authority's directory.
func (a *Authority) Dir() string { return a.dir }

// CAPEM returns the CA's certificate, PEM-encoded, as edges trust it.
func (a *Authority) CAPEM() []byte { return append([]byte(nil), a.caPEM...) }

func (a *Authority) path(name string) string { return filepath.Join(a.dir, name) }

// locked runs f holding the directory's lock (flock on dir/lock), which
// every change to the directory's files takes: it keeps two processes from
// both creating a CA, and from losing each other's records.
func (a *Authority) locked(f func() error) error {
	lf, err := os.OpenFile(a.path(lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("pki: open lock: %w", err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("pki: lock %s: %w", a.path(lockFile), err)
	}
	// Closing the file releases the lock; the explicit unlock says so.
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it anyway
	return f()
}

// ensureCA loads the CA, creating it first when ca.pem is missing. The
// caller holds the lock.
func (a *Authority) ensureCA() error {
	if err := ensureFile(a.path(caFile), a.createCA); err != nil {
		return err
	}
	cert, certPEM, err := readCert(a.path(caFile))
	if err != nil {
		return err
	}
	key, err := readKey(a.path(caKeyFile))
	if err != nil {
		return err
	}
	if !cert.IsCA {
		return fmt.Errorf("pki: %s is not a CA certificate", a.path(caFile))
	}
	a.ca, a.caKey, a.caPEM = cert, key, certPEM
	a.roots = x509.NewCertPool()
	a.roots.AddCert(cert)
	return nil
}

// ensureFile runs create when path does not exist.
func ensureFile(path string, create func() error) error {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return create()
	}
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}

func (a *Authority) createCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: CAName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		// The CA signs leaf certificates only, never another CA.
		MaxPathLenZero: true,
		KeyUsage:       x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := sign(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return err
	}
	// The key first: a crash between the two leaves a key without a
	// certificate, which the next Open replaces, never a certificate whose
	// key is lost.
	if err := writeKeyFile(a.path(caKeyFile), key); err != nil {
		return err
	}
	// A new CA makes any host certificate left from an old one useless.
	if err := os.Remove(a.path(hostFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pki: remove old host certificate: %w", err)
	}
	return writeFileAtomic(a.path(caFile), pemBlock("CERTIFICATE", der), 0o644)
}

// ensureHost loads the host's certificate, creating it when host.pem is
// missing, and checks that the CA signed it. The caller holds the lock.
func (a *Authority) ensureHost() error {
	if err := ensureFile(a.path(hostFile), a.createHost); err != nil {
		return err
	}
	certPEM, err := os.ReadFile(a.path(hostFile))
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	keyPEM, err := os.ReadFile(a.path(hostKeyFile))
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("pki: load %s: %w", a.path(hostFile), err)
	}
	_, err = pair.Leaf.Verify(x509.VerifyOptions{
		DNSName: HostName, Roots: a.roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("pki: %s does not verify against %s (remove it to have a new one made): %w",
			a.path(hostFile), a.path(caFile), err)
	}
	a.host = pair
	return nil
}

func (a *Authority) createHost() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: generate host key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: HostName},
		DNSNames:     []string{HostName},
		NotBefore:    time.Now().Add(-clockSkew),
		NotAfter:     a.ca.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := sign(tmpl, a.ca, key.Public(), a.caKey)
	if err != nil {
		return err
	}
	if err := writeKeyFile(a.path(hostKeyFile), key); err != nil {
		return err
	}
	return writeFileAtomic(a.path(hostFile), pemBlock("CERTIFICATE", der), 0o644)
}

// sign makes a certificate from tmpl, signed by parent's key, giving it a
// fresh random serial when it has none.
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) ([]byte, error) {
	if tmpl.SerialNumber == nil {
		serial, err := newSerial()
		if err != nil {
			return nil, err
		}
		tmpl.SerialNumber = serial
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign %q: %w", tmpl.Subject.CommonName, err)
	}
	return der, nil
}

// newSerial returns a random 128-bit serial: unguessable, and never the
// same twice, which revocation by serial relies on.
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("pki: serial: %w", err)
	}
	// Zero is not a valid serial (RFC 5280 asks for a positive one).
	return n.Add(n, big.NewInt(1)), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode key: %w", err)
	}
	return pemBlock("PRIVATE KEY", der), nil
}

func writeKeyFile(path string, key *ecdsa.PrivateKey) error {
	b, err := keyPEM(key)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o600)
}

func readCert(path string) (*x509.Certificate, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("pki: %s: no PEM certificate in it", path)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %s: %w", path, err)
	}
	return cert, b, nil
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("pki: %s: no PEM key in it", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("pki: %s: not a signing key", path)
	}
	return s, nil
}

// writeFileAtomic writes b to path through a temporary file in the same
// directory and a rename, so that a reader (another process, or a crash)
// sees the old file or the new one, never half of one.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	// CreateTemp makes the file 0600 already; Chmod gives certificates
	// their readable mode, whatever the umask.
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if _, err := f.Write(b); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}
