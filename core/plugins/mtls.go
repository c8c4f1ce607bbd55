package plugins

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	hplugin "github.com/hashicorp/go-plugin"
)

// AutoMTLS across a reattach.
//
// With go-plugin's AutoMTLS the host generates a key pair at launch and
// hands the plugin its certificate (PLUGIN_CLIENT_CERT); the plugin then
// accepts only TLS connections that present that certificate, and answers
// with its own certificate in the handshake line. go-plugin v1.8 applies
// AutoMTLS to launches only and keeps the pair in memory: a reloaded host
// image (or one started after a crash) would have neither the pair the
// plugin trusts nor the certificate to trust the plugin by. So the host
// keeps both in the plugin's record, and a reattach presents them again
// through ClientConfig.TLSConfig, which go-plugin does use on a reattach.

// mtlsRecord is the part of a plugin record that lets a new host image
// reattach to a plugin launched with AutoMTLS. All three are PEM.
type mtlsRecord struct {
	ClientCert string `json:"client_cert"`
	ClientKey  string `json:"client_key"`
	// ServerCert is the plugin's own certificate, seen on the first TLS
	// handshake of the launch.
	ServerCert string `json:"server_cert"`
}

// tlsConfig is the client side of the link for a reattach: the kept pair,
// trusting only the plugin's certificate.
func (m *mtlsRecord) tlsConfig() (*tls.Config, error) {
	cert, err := tls.X509KeyPair([]byte(m.ClientCert), []byte(m.ClientKey))
	if err != nil {
		return nil, fmt.Errorf("plugin_mtls: kept key pair: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(m.ServerCert)) {
		return nil, errors.New("plugin_mtls: kept plugin certificate does not parse")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		// go-plugin's certificates are issued for "localhost".
		ServerName: "localhost",
		MinVersion: tls.VersionTLS12,
	}, nil
}

// keeper returns the record's material as a linkTLS, so that the next
// record keeps it too.
func (m *mtlsRecord) keeper() *linkTLS {
	return &linkTLS{clientCert: m.ClientCert, clientKey: m.ClientKey, serverCert: m.ServerCert}
}

// linkTLS is one run's mTLS material. The plugin's certificate arrives on
// a gRPC goroutine during the first handshake, hence the lock.
type linkTLS struct {
	clientCert, clientKey string

	mu         sync.Mutex
	serverCert string
}

// record returns what the plugin record keeps, or nil when the link runs
// without mTLS (l is nil) or the plugin's certificate was never seen.
func (l *linkTLS) record(log *slog.Logger) *mtlsRecord {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.serverCert == "" {
		log.Error("plugin_mtls: the plugin's certificate was never seen; a host reload will restart this plugin")
		return nil
	}
	return &mtlsRecord{ClientCert: l.clientCert, ClientKey: l.clientKey, ServerCert: l.serverCert}
}

// keepAutoMTLS takes the key pair go-plugin generated for a launch with
// AutoMTLS, and arranges for the plugin's certificate to be caught when the
// link's first TLS handshake verifies it. It must run after Client.Start
// (which makes the pair) and before Client.Client (which dials). It relies
// on go-plugin filling in the caller's ClientConfig.TLSConfig, which v1.8
// does; TestAutoMTLSKeepsPair catches an upgrade that stops doing so.
func keepAutoMTLS(cc *hplugin.ClientConfig) (*linkTLS, error) {
	tc := cc.TLSConfig
	if tc == nil || len(tc.Certificates) != 1 || len(tc.Certificates[0].Certificate) == 0 {
		return nil, errors.New("go-plugin did not expose the AutoMTLS key pair")
	}
	pair := tc.Certificates[0]
	key, err := x509.MarshalPKCS8PrivateKey(pair.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("encode the AutoMTLS key: %w", err)
	}
	l := &linkTLS{
		clientCert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pair.Certificate[0]})),
		clientKey:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})),
	}
	// Called after the usual verification against the certificate the
	// plugin announced, so what it records is the one it proved it holds.
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) > 0 {
			l.mu.Lock()
			if l.serverCert == "" {
				l.serverCert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cs.PeerCertificates[0].Raw}))
			}
			l.mu.Unlock()
		}
		return nil
	}
	return l, nil
}
