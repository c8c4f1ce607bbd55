package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestREADMEDocumentsEverything: every config dict key and every protocol
// flag is in README.md, so that the documentation cannot fall behind.
func TestREADMEDocumentsEverything(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	rt := reflect.TypeFor[rawBotConfig]()
	for i := range rt.NumField() {
		key := rt.Field(i).Tag.Get("json")
		if !strings.Contains(readme, "| `"+key+"` |") {
			t.Errorf("README.md does not document config key %q", key)
		}
	}
	for _, flag := range []string{FlagState, FlagStateSince, FlagRetryAt, FlagNetwork, FlagNick, FlagError} {
		if !strings.Contains(readme, "| `"+flag+"` |") {
			t.Errorf("README.md does not document flag %s", flag)
		}
	}
	for _, state := range []string{stateConnecting, stateConnected, stateReconnecting, stateRejoining, stateStopped, "sasl failed", stateGaveUp} {
		if !strings.Contains(readme, "`"+state) {
			t.Errorf("README.md does not mention state %q", state)
		}
	}
}
