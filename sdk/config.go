package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// HostInfo is what the host tells a plugin about itself at Configure.
type HostInfo struct {
	// ServerName is the game's name (server.name).
	ServerName string
	// DataDir is the host's data directory; plugins keep their files under it.
	DataDir string
	// Version is the host's version.
	Version string
	// MaxInputLength is the host-wide limit on one line or message, in
	// characters (0: none). Plugins enforce it before input reaches the host.
	MaxInputLength int
	// ReattachGrace is how long the plugin keeps its clients waiting for a
	// host that went away.
	ReattachGrace time.Duration
	// ConnectionRate is new connections per second accepted from one
	// address (an IPv4 address, an IPv6 /64; 0: no limit); past it the
	// address's clients queue (Portal.NewSession applies it).
	ConnectionRate int
	// ConnectionsPerIP bounds open connections from one address (0: none).
	ConnectionsPerIP int
	// ConnectionQueueWait is the longest a client may wait in its
	// address's queue; one whose wait would be longer is refused (0: no
	// queue, a client that would have to wait is refused at once).
	ConnectionQueueWait time.Duration
}

// Config is a plugin's config block from config.yaml (or a bot's config
// dict) and the host's facts.
type Config struct {
	// Raw is the config block or dict as given.
	Raw map[string]any
	// Host is what the host told the plugin about itself.
	Host HostInfo
}

// Decode fills v (a pointer to a struct with json tags, holding its
// defaults) from the config block. A key v does not know is an error that
// names it, so that a typo in config.yaml is reported instead of ignored.
func (c Config) Decode(v any) error {
	b, err := json.Marshal(c.Raw)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := err.Error()
		if k, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return fmt.Errorf("config: unknown key %s", k)
		}
		var te *json.UnmarshalTypeError
		if ok := asTypeError(err, &te); ok {
			return fmt.Errorf("config: key %q: want %s, got %s", te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

func asTypeError(err error, te **json.UnmarshalTypeError) bool {
	t, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*te = t
	}
	return ok
}
