package sdk

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestDetectVersionMismatch: go-plugin's refusal (its v1.8 wording, which
// core/plugins also pins against the real library) becomes an error naming
// both sides and saying what to do; anything else passes through.
func TestDetectVersionMismatch(t *testing.T) {
	if DetectVersionMismatch(nil, []int{1}) != nil {
		t.Fatal("nil error became an error")
	}
	other := errors.New("plugin exited before we could connect")
	if got := DetectVersionMismatch(other, []int{1}); got != other {
		t.Fatalf("unrelated error changed: %v", got)
	}

	goPlugin := fmt.Errorf("launch: %w", errors.New("incompatible API version with plugin. Plugin version: 2, Client versions: [1]"))
	err := DetectVersionMismatch(goPlugin, []int{1})
	var vm *VersionMismatchError
	if !errors.As(err, &vm) || vm.PluginVersion != 2 || !slices.Equal(vm.HostVersions, []int{1}) {
		t.Fatalf("not recognised: %#v", err)
	}
	if !errors.Is(err, goPlugin) {
		t.Fatal("go-plugin's error is not wrapped")
	}
	want := "protocol version mismatch: host speaks 1, plugin speaks 2 — the plugin was built against a newer SDK: upgrade the host, or rebuild the plugin against the host's SDK"
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("message %q, want it to start %q", err, want)
	}

	// An older plugin against a host speaking 3 and 2; the host's versions
	// come from go-plugin's message when the caller has none.
	old := errors.New("incompatible API version with plugin. Plugin version: 1, Client versions: [2 3]")
	err = DetectVersionMismatch(old, nil)
	if want := "protocol version mismatch: host speaks 3, 2, plugin speaks 1 — rebuild the plugin against the host's SDK"; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("message %q, want it to start %q", err, want)
	}
	if again := DetectVersionMismatch(err, []int{9}); again != err {
		t.Fatal("an already recognised mismatch was rewrapped")
	}
}

// TestPluginSetsCoverSupportedVersions: every supported version has the
// portal plugin, serving the given server.
func TestPluginSetsCoverSupportedVersions(t *testing.T) {
	srv := NewServer(nil, nil)
	sets := PluginSets(srv)
	for _, v := range SupportedProtocolVersions() {
		p, ok := sets[v][PluginName].(*GRPCPlugin)
		if !ok || p.Impl != srv {
			t.Fatalf("version %d: %v", v, sets[v])
		}
	}
	if len(sets) != len(SupportedProtocolVersions()) || SupportedProtocolVersions()[0] != ProtocolVersion {
		t.Fatalf("sets %v for versions %v (newest first, ProtocolVersion %d)", sets, SupportedProtocolVersions(), ProtocolVersion)
	}
}
