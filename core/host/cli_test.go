package host_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/host"
)

// TestConfigCheckShowsGameSettings: `config check` of a game's binary
// decodes its game: block as `start` would, shows its settings with their
// defaults, and refuses a block the game does not take.
func TestConfigCheckShowsGameSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	run := func(body string, opts ...host.Option) (string, error) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cli := host.NewCommand(opts...)
		cli.SetArgs([]string{"config", "check", "--config", path})
		cli.SetOut(&out)
		err := cli.Execute()
		return out.String(), err
	}
	type settings struct {
		StartRoom int    `mapstructure:"start_room"`
		Welcome   string `mapstructure:"welcome"`
	}
	s := settings{StartRoom: 1, Welcome: "Hello"}
	out, err := run("game:\n  start_room: 4\n", host.WithGameConfig(&s))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out, "game:\n  start_room: 4\n  welcome: Hello\n") {
		t.Errorf("config check printed:\n%s", out)
	}
	if _, err := run("game:\n  welcom: Hi\n", host.WithGameConfig(&s)); err == nil ||
		!strings.Contains(err.Error(), `config.yaml:2: game.welcom: unknown key (did you mean "welcome"?)`) {
		t.Errorf("a typo: %v", err)
	}
	if _, err := run("game:\n  start_room: 4\n"); err == nil || !strings.Contains(err.Error(), "this game takes no settings") {
		t.Errorf("the stock game with a game block: %v", err)
	}
}
