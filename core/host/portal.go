package host

import (
	"errors"
	"fmt"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/control"
	"github.com/portico-mud/portico/core/pki"
)

// cmdPortalRevoke is the control command of `portico portal revoke NAME`.
const cmdPortalRevoke = "portal_revoke"

// openPortal opens the host's certificate authority (<data_dir>/pki) at
// start-up when server.portal_listen is set, and hands it to the plugin
// manager (Manager.Authority), whose listener for remote plugins takes its
// TLS configuration from it and closes a revoked plugin's connection from
// its OnRevoke. Without portal_listen the authority is opened on the first
// `portico portal revoke` instead (authority): a host that accepts no
// remote plugin has no reason to create a CA.
func (h *Host) openPortal(cfg *config.Config) error {
	if cfg.Server.PortalListen == "" {
		return nil
	}
	a, err := h.authority()
	if err != nil {
		return fmt.Errorf("host: %s: %w", config.PortalListenKey, err)
	}
	h.manager.Authority = a
	return nil
}

// authority returns the host's one Authority, opening it the first time.
// There is one per host so that every revocation made through the running
// host reaches the OnRevoke callbacks the listener registered.
func (h *Host) authority() (*pki.Authority, error) {
	h.pkiMu.Lock()
	defer h.pkiMu.Unlock()
	if h.pki != nil {
		return h.pki, nil
	}
	a, err := pki.Open(h.config().PKIDir())
	if err != nil {
		return nil, err
	}
	a.OnRevoke(func(name string) {
		h.log.Info("portal: certificates revoked; the plugin is refused from now on", "plugin", name)
	})
	h.pki = a
	return a, nil
}

// revokePortal revokes plugin name's certificates through the host's own
// Authority, for `portico portal revoke`: its OnRevoke callbacks run, so
// that the listener drops the plugin's live connection at once.
func (h *Host) revokePortal(req control.Request) (any, <-chan struct{}, error) {
	name := req.Args["name"]
	if name == "" {
		return nil, nil, errors.New("portal revoke: no plugin name")
	}
	a, err := h.authority()
	if err != nil {
		return nil, nil, fmt.Errorf("portal revoke: %w", err)
	}
	if err := a.Revoke(name); err != nil {
		return nil, nil, err
	}
	h.log.Info("portal revoke asked for", "by", "portico portal revoke", "plugin", name)
	return map[string]string{"message": "revoked every certificate issued to " + name +
		"; the running host refuses it from now on"}, nil, nil
}
