package sdk

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	hplugin "github.com/hashicorp/go-plugin"
)

// SupportedProtocolVersions returns every version of the portal session
// contract this SDK speaks, newest first.
//
// A host offers all of them when it launches a plugin, and a plugin built
// with Serve answers with the newest version the host offered (go-plugin's
// VersionedPlugins negotiation). A host and a plugin built against different
// SDKs therefore work together whenever their lists share a version; when
// they share none the host refuses the plugin with a *VersionMismatchError
// naming both sides. A version leaves this list only when the SDK can no
// longer speak it.
func SupportedProtocolVersions() []int { return []int{ProtocolVersion} }

// PluginSets returns go-plugin's VersionedPlugins for every supported
// contract version, serving impl. The host and the conformance kit pass nil:
// they only dispense clients. Serve, the host and the kit all build their
// sets here, so that they cannot disagree on what a version carries.
func PluginSets(impl *Server) map[int]hplugin.PluginSet {
	sets := make(map[int]hplugin.PluginSet)
	for _, v := range SupportedProtocolVersions() {
		sets[v] = hplugin.PluginSet{PluginName: &GRPCPlugin{Impl: impl}}
	}
	return sets
}

// VersionMismatchError is a host and a plugin that share no version of the
// portal session contract: the plugin was built against an SDK too old or
// too new for the host.
type VersionMismatchError struct {
	// HostVersions are the versions the host offered.
	HostVersions []int
	// PluginVersion is the version the plugin answered with (go-plugin has
	// a plugin that shares none answer with its oldest one).
	PluginVersion int
	// Err is go-plugin's own error.
	Err error
}

// Error names both sides and says what to do, e.g. "protocol version
// mismatch: host speaks 1, plugin speaks 2 — the plugin was built against
// a newer SDK: upgrade the host or rebuild the plugin against the host's
// SDK".
func (e *VersionMismatchError) Error() string {
	host := make([]string, len(e.HostVersions))
	for i, v := range e.HostVersions {
		host[i] = strconv.Itoa(v)
	}
	advice := "rebuild the plugin against the host's SDK (github.com/portico-mud/portico/sdk)"
	if len(e.HostVersions) > 0 && e.PluginVersion > slices.Max(e.HostVersions) {
		advice = "the plugin was built against a newer SDK: upgrade the host, or " + advice
	}
	return fmt.Sprintf("protocol version mismatch: host speaks %s, plugin speaks %d — %s",
		strings.Join(host, ", "), e.PluginVersion, advice)
}

// Unwrap returns go-plugin's error.
func (e *VersionMismatchError) Unwrap() error { return e.Err }

// goPluginMismatch matches the error go-plugin v1.8's client returns when
// the plugin answered with a version the client did not offer
// (Client.checkProtoVersion). go-plugin has no error type for it, so its
// wording is pinned by a test.
var goPluginMismatch = regexp.MustCompile(`incompatible API version with plugin\. Plugin version: (-?\d+), Client versions: \[([-\d ]*)\]`)

// DetectVersionMismatch returns a *VersionMismatchError for err when err is
// go-plugin's report of a plugin that shares no contract version with the
// host (who offered hostVersions), and err unchanged otherwise.
func DetectVersionMismatch(err error, hostVersions []int) error {
	if err == nil {
		return nil
	}
	var already *VersionMismatchError
	if errors.As(err, &already) {
		return err
	}
	m := goPluginMismatch.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	pv, convErr := strconv.Atoi(m[1])
	if convErr != nil {
		return err
	}
	host := slices.Clone(hostVersions)
	if len(host) == 0 {
		for _, f := range strings.Fields(m[2]) {
			if v, err := strconv.Atoi(f); err == nil {
				host = append(host, v)
			}
		}
	}
	slices.Sort(host)
	slices.Reverse(host)
	return &VersionMismatchError{HostVersions: host, PluginVersion: pv, Err: err}
}
