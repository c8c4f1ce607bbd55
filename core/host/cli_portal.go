package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/control"
	"github.com/portico-mud/portico/core/pki"
	"github.com/portico-mud/portico/sdk/identity"
	"github.com/spf13/cobra"
)

// portalCmd is `portico portal issue|revoke`: the identities of plugins
// that run on other machines and dial server.portal_listen.
func portalCmd(load loader) *cobra.Command {
	portal := &cobra.Command{Use: "portal", Short: "Issue and revoke the certificates of remote plugins (server.portal_listen)"}
	portal.AddCommand(portalIssueCmd(load), portalRevokeCmd(load))
	return portal
}

// portalIssueCmd is `portico portal issue NAME --out DIR`. It works on
// <data_dir>/pki directly, running host or not: issuing needs nothing the
// host holds, and the authority's lock keeps the two from clashing. It
// creates the data directory and the CA when none exist yet, so that the
// edges can be prepared before the host first starts.
func portalIssueCmd(load loader) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "issue NAME --out DIR",
		Short: "Write the key, certificate and CA certificate of the remote plugin of block plugins.NAME into DIR",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if out == "" {
				return errors.New("portal issue: --out DIR is required: where to write the edge's identity")
			}
			cfg, err := load()
			if err != nil {
				return err
			}
			a, err := pki.Open(cfg.PKIDir())
			if err != nil {
				return fmt.Errorf("portal issue: %w", err)
			}
			if err := a.Issue(name, out); err != nil {
				return fmt.Errorf("portal issue: %w", err)
			}
			printIssued(cmd.OutOrStdout(), cfg, name, out)
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "directory to write cert.pem, key.pem and ca.pem into (created 0700; existing files are not overwritten)")
	return c
}

// printIssued tells the operator what was written and what to run on the
// edge.
func printIssued(w io.Writer, cfg *config.Config, name, out string) {
	fmt.Fprintf(w, "wrote %s, %s (mode 0600) and %s: the identity of plugins.%s, from the CA in %s\n",
		filepath.Join(out, identity.CertFile), filepath.Join(out, identity.KeyFile),
		filepath.Join(out, identity.CAFile), name, cfg.PKIDir())
	p, ok := cfg.Plugins[name]
	proto := p.ProtocolName()
	switch {
	case !ok:
		fmt.Fprintf(w, "config.yaml has no plugins.%s block yet: add one with remote: true (and protocol:)\n", name)
	case !p.Remote:
		fmt.Fprintf(w, "plugins.%s is a local plugin: set remote: true for the host to wait for it instead of launching it\n", name)
	}
	if proto == "" {
		// A remote block without protocol: the edge may run any.
		proto = "PROTOCOL"
	}
	fmt.Fprintf(w, "copy %s to the edge and run there:\n  portico-%s --connect %s --identity %s\n",
		out, proto, edgeTarget(cfg.Server.PortalListen), out)
	if cfg.Server.PortalListen == "" {
		fmt.Fprintf(w, "(%s is not set: the host accepts no remote plugin until it is, and restarted)\n", config.PortalListenKey)
	}
}

// edgeTarget is the HOST:PORT an edge dials for server.portal_listen
// listen: the address itself, or, when it listens on every interface,
// this machine's name (an edge cannot dial 0.0.0.0).
func edgeTarget(listen string) string {
	if listen == "" {
		return "HOST:PORT"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "HOST"
		if hn, err := os.Hostname(); err == nil && hn != "" {
			host = hn
		}
	}
	return net.JoinHostPort(host, port)
}

// portalRevokeCmd is `portico portal revoke NAME`: through the running
// host, whose own Authority then drops the plugin's live connection, or on
// <data_dir>/pki directly when no host runs (a host started later reads
// the revocations from there).
func portalRevokeCmd(load loader) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "Refuse every certificate issued to NAME from now on (a running host also closes its connection)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			cfg, err := load()
			if err != nil {
				return err
			}
			data, err := callHostOr(cfg, control.Request{Cmd: cmdPortalRevoke, Args: map[string]string{"name": name}},
				func() (json.RawMessage, error) {
					a, err := pki.Open(cfg.PKIDir())
					if err == nil {
						err = a.Revoke(name)
					}
					if err != nil {
						return nil, err
					}
					return json.Marshal(hostMessage{Message: "revoked every certificate issued to " + name +
						"; no host is running: a host started later refuses it"})
				})
			if err != nil {
				return fmt.Errorf("portal revoke: %w", err)
			}
			return printAnswer(cmd, data, nil, false, "portal revoke", printMessage)
		},
	}
}
