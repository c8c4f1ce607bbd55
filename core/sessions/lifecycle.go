package sessions

// Asking the host to reload, reset or shut down (Evennia's
// portal_restart_server, portal_reset_server and portal_shutdown).

import "errors"

// PortalRestartServer is Evennia's portal_restart_server (SRELOAD): it asks
// the host to reload, keeping every session.
func (h *ServerSessionHandler) PortalRestartServer(reason string) error {
	if h.lifecycle == nil {
		return errors.New("sessions: reload: no host lifecycle")
	}
	return h.lifecycle.Reload(reason)
}

// PortalResetServer is Evennia's portal_reset_server (SRESET): it asks the
// host to reset, a reload that also drops the host's non-persistent state.
func (h *ServerSessionHandler) PortalResetServer(reason string) error {
	if h.lifecycle == nil {
		return errors.New("sessions: reset: no host lifecycle")
	}
	return h.lifecycle.Reset(reason)
}

// PortalShutdown is Evennia's portal_shutdown (PSHUTD): it asks the host to
// shut down, plugins and all.
func (h *ServerSessionHandler) PortalShutdown(reason string) error {
	if h.lifecycle == nil {
		return errors.New("sessions: shutdown: no host lifecycle")
	}
	return h.lifecycle.Shutdown(reason)
}
