// Package identity is a remote plugin's side of the host's certificate
// authority: it turns an identity directory, as `portico portal issue NAME
// --out DIR` writes it, into the TLS client configuration a plugin dials
// the host's server.portal_listen with (`--identity DIR`).
//
// The directory holds cert.pem (the edge's client certificate, whose
// common name is its plugins.<name> block), key.pem (its private key) and
// ca.pem (the host's CA, the only one the plugin trusts for the host).
//
// The package must not import the host (core) or the command line (cmd):
// plugins are built against sdk/ alone. The host's side, core/pki, imports
// HostName from here so that the name both sides use is written once.
package identity

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
)

// HostName is the DNS name in the host's server certificate, and the name
// an edge verifies the host by. It is a fixed name rather than the host's
// address so that the same certificate works whatever address, DNS name or
// TCP proxy an edge reaches the host through.
const HostName = "portico-host"

// The files of an identity directory, as core/pki writes them.
const (
	// CertFile is the edge's client certificate (PEM).
	CertFile = "cert.pem"
	// KeyFile is the edge's private key (PEM, mode 0600).
	KeyFile = "key.pem"
	// CAFile is the host CA's certificate (PEM).
	CAFile = "ca.pem"
)

// Load reads the identity in dir and returns the TLS configuration a
// remote plugin dials the host with: TLS 1.3 at least, the edge's client
// certificate, the host's CA as the only root, and HostName as the name
// the host's certificate must carry. Errors name the file that is missing
// or wrong, since an operator copies these files by hand.
func Load(dir string) (*tls.Config, error) {
	certPath := filepath.Join(dir, CertFile)
	keyPath := filepath.Join(dir, KeyFile)
	caPath := filepath.Join(dir, CAFile)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("identity: read %s: %w", certPath, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("identity: read %s: %w", keyPath, err)
	}
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		return nil, fmt.Errorf("identity: read %s: %w", caPath, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("identity: load %s with %s: %w", certPath, keyPath, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("identity: read %s: no PEM certificate in it", caPath)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
		ServerName:   HostName,
	}, nil
}
