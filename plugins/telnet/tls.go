package main

import (
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
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/portico-mud/portico/sdk"
)

// Telnet over TLS: the same protocol on a second listener (Evennia's
// telnet+SSL, port 4003 there), with sessions named "telnet/ssl".

// ProtocolKeyTLS is the protocol_key of sessions over TLS (Evennia's
// telnet_ssl.py name).
const ProtocolKeyTLS = "telnet/ssl"

// tlsDirName is where a generated key pair lives, under the data dir.
const tlsDirName = "telnet-tls"

// tlsHandshakeTimeout bounds a client's TLS handshake: a connection that
// never finishes one never becomes a session.
const tlsHandshakeTimeout = 10 * time.Second

// checkTLS checks, for Validate, what loadTLS would need without
// generating anything: a configured pair must load; without one the host
// must give a data dir to keep a generated pair in.
func checkTLS(certFile, keyFile, dataDir string) error {
	if certFile == "" {
		if dataDir == "" {
			return sdk.KeyError("tls_listen", "no tls_cert/tls_key given and the host has no data_dir to keep a generated pair in")
		}
		return nil
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		return sdk.KeyError("tls_cert", "load %s and %s: %v", certFile, keyFile, err)
	}
	return nil
}

// loadTLS returns the TLS config for the TLS listener: the configured pair,
// or the generated one in <dataDir>/telnet-tls/ (made on first use).
func loadTLS(certFile, keyFile, dataDir string) (*tls.Config, error) {
	if certFile == "" {
		if dataDir == "" {
			return nil, sdk.KeyError("tls_listen", "no tls_cert/tls_key given and the host has no data_dir to keep a generated pair in")
		}
		dir := filepath.Join(dataDir, tlsDirName)
		if err := ensureSelfSigned(dir); err != nil {
			return nil, fmt.Errorf("telnet: generate TLS key pair in %s: %w", dir, err)
		}
		certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, sdk.KeyError("tls_cert", "load %s and %s: %v", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// ensureSelfSigned makes dir with a self-signed ECDSA P-256 certificate and
// key unless it exists. The pair is written into a fresh directory that is
// then renamed into place, so that two plugins starting at once (two telnet
// instances share a data dir) never see a certificate without its key: the
// loser of the rename uses the winner's pair.
func ensureSelfSigned(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), tlsDirName+".tmp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	certPEM, keyPEM, err := selfSigned()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "cert.pem"), certPEM, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "key.pem"), keyPEM, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr == nil {
			return nil // another process made it first
		}
		return err
	}
	return nil
}

// selfSigned returns a new self-signed certificate and its key, PEM
// encoded, valid for ten years for localhost and this host's name.
func selfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	names := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		names = append(names, h)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[len(names)-1], Organization: []string{"Portico telnet (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
