package sessions

// Asking the host to reload, reset or shut down (Evennia's
// portal_restart_server, portal_reset_server and portal_shutdown).

import "errors"

// PortalRestartServer asks the host to reload (SRELOAD).
func (h *ServerSessionHandler) PortalRestartServer(reason string) error {
	if h.lifecycle == nil {
		return errors.New("sessions: reload: no host lifecycle")
	}
	return h.lifecycle.Reload(reason)
}

// PortalResetServer asks the host to reset (SRESET).
func (h *ServerSessionHandler) PortalResetServer(reason string) error {
	if h.lifecycle == nil {
		return errors.New("sessions: reset: no host lifecycle")
	}
	return h.lifecycle.Reset(reason)
}

// PortalShutdown asks the host to shut down, plugins and all (PSHUTD).
func (h *ServerSessionHandler) PortalShutdown(reason string) error {
	if h.lifecycle == nil {
		return errors.New("sessions: shutdown: no host lifecycle")
	}
	return h.lifecycle.Shutdown(reason)
}
