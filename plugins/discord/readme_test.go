package main

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/portico-mud/portico/sdk/contract"
)

// TestREADMEDocumentsEverything: every key of a bot's dict and of the
// plugin's block, every protocol flag, state and failure reason is in
// README.md, so that the documentation cannot fall behind.
func TestREADMEDocumentsEverything(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, rt := range []reflect.Type{reflect.TypeFor[rawBotConfig](), reflect.TypeFor[pluginConfig]()} {
		for i := range rt.NumField() {
			key := rt.Field(i).Tag.Get("json")
			if !strings.Contains(readme, "| `"+key+"` |") {
				t.Errorf("README.md does not document config key %q of %s", key, rt.Name())
			}
		}
	}
	for _, flag := range []string{contract.FlagBotState, contract.FlagBotStateSince, contract.FlagBotRetryAt, contract.FlagBotError, contract.FlagBotNetwork} {
		if !strings.Contains(readme, "| `"+flag+"` |") {
			t.Errorf("README.md does not document flag %s", flag)
		}
	}
	for _, state := range []string{contract.BotConnecting, contract.BotConnected, contract.BotResuming, contract.BotReconnecting, contract.BotStopped, contract.BotFailedPrefix} {
		if !strings.Contains(readme, "`"+state) {
			t.Errorf("README.md does not mention state %q", state)
		}
	}
	for _, code := range []int{4004, 4010, 4011, 4012, 4013, 4014} {
		reason, fatal := fatalError(&websocket.CloseError{Code: code})
		if !fatal {
			t.Errorf("close %d is not fatal", code)
		}
		short, _, _ := strings.Cut(reason, " (")
		if !strings.Contains(readme, "`"+short) {
			t.Errorf("README.md does not name failure %q", short)
		}
	}
	if _, fatal := fatalError(&websocket.CloseError{Code: 4000}); fatal {
		t.Error("close 4000 (unknown error) is fatal: it should be retried")
	}
	if _, fatal := fatalError(errors.New("connection refused")); fatal {
		t.Error("a network error is fatal")
	}
}
