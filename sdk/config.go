package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
)

// Limits are the host's limits (config.yaml's limits block), as the
// plugin is told them at Configure.
type Limits = contract.Limits

// HostInfo is what the host tells a plugin about itself at Configure.
type HostInfo struct {
	// ServerName is the game's name (server.name).
	ServerName string
	// DataDir is the host's data directory; plugins keep their files under it.
	DataDir string
	// Version is the host's version.
	Version string
	// ReattachGrace is how long the plugin keeps its clients waiting for a
	// host that went away.
	ReattachGrace time.Duration
	// Limits are the host-wide limits. Plugins enforce MaxInputLength (on
	// one line or message, in characters, before input reaches the host);
	// Portal.NewSession applies ConnectionRate (past it clients queue) and
	// ConnectionsPerIP and ConnectionQueueWait. See contract.LimitsFromProto for which limits the
	// wire carries.
	Limits
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
