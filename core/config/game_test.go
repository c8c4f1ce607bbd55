package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/config"
)

// settings is a game's settings struct, as a game registers it.
type settings struct {
	StartRoom int           `mapstructure:"start_room"`
	Welcome   string        `mapstructure:"welcome"`
	Tick      time.Duration `mapstructure:"tick"`
	Exits     []string      `mapstructure:"exits"`
	APIToken  string        `mapstructure:"api_token"`
	Weather   struct {
		Enabled bool `mapstructure:"enabled"`
		Every   int  `mapstructure:"every"`
	} `mapstructure:"weather"`
}

func defaults() settings {
	s := settings{StartRoom: 1, Welcome: "Hello", Tick: time.Minute, Exits: []string{"n", "s"}}
	s.Weather.Every = 10
	return s
}

// decodeGame loads body and decodes its game block into a copy of the
// defaults.
func decodeGame(t *testing.T, body string) (settings, error) {
	t.Helper()
	c, err := config.Load(writeConfig(t, body))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	s := defaults()
	return s, config.DecodeGame(c, &s)
}

// TestGameBlockDecoded: the keys given are decoded into the struct, those
// left out keep the game's defaults, and a missing block is all defaults.
func TestGameBlockDecoded(t *testing.T) {
	s, err := decodeGame(t, "game:\n  start_room: 7\n  tick: 30s\n  weather:\n    enabled: true\n  exits: [up]\n")
	if err != nil {
		t.Fatal(err)
	}
	want := defaults()
	want.StartRoom, want.Tick, want.Weather.Enabled, want.Exits = 7, 30*time.Second, true, []string{"up"}
	if fmt.Sprint(s) != fmt.Sprint(want) {
		t.Errorf("decoded %+v, want %+v", s, want)
	}
	if d := defaults(); !slices.Equal(d.Exits, []string{"n", "s"}) {
		t.Errorf("decoding changed the defaults' list: %v", d.Exits)
	}
	s, err = decodeGame(t, "server:\n  name: X\n")
	if err != nil || fmt.Sprint(s) != fmt.Sprint(defaults()) {
		t.Errorf("no block: %+v, %v; want the defaults", s, err)
	}
}

// TestGameBlockStrict: unknown keys and bad values are errors naming the
// key and its line, with the nearest known key.
func TestGameBlockStrict(t *testing.T) {
	for _, tc := range []struct {
		body string
		want []string
	}{
		{"game:\n  strat_room: 2\n", []string{`config.yaml:2: game.strat_room: unknown key (did you mean "start_room"?)`}},
		{"game:\n  start_room: two\n", []string{`config.yaml:2: game.start_room: want a whole number, got "two"`}},
		{"game:\n  tick: soon\n", []string{`config.yaml:2: game.tick: want a duration such as 30m, got "soon"`}},
		{"game:\n  weather:\n    enabeld: true\n", []string{`config.yaml:3: game.weather.enabeld: unknown key (did you mean "enabled"?)`}},
		{"game:\n  welcome:\n    text: hi\n", []string{`game.welcome.text: unknown key (game.welcome takes a single value, not a mapping)`}},
		{"game: 5\n", []string{`config.yaml:1: game: want a mapping, got 5`}},
		{"game:\n  start_room: x\n  nope: 1\n", []string{"game.nope: unknown key", "game.start_room: want a whole number"}},
	} {
		c, err := config.Load(writeConfig(t, tc.body))
		if err == nil {
			s := defaults()
			err = config.DecodeGame(c, &s)
		}
		if err == nil {
			t.Errorf("%q was accepted", tc.body)
			continue
		}
		var ps config.Problems
		if !errors.As(err, &ps) {
			t.Errorf("%q: error %T is no Problems: %v", tc.body, err, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error\n%s\nwants %q", tc.body, err, w)
			}
		}
	}
}

// TestGameBlockWithoutSettings: a game that registered no settings refuses
// a block with keys, and takes an empty or missing one.
func TestGameBlockWithoutSettings(t *testing.T) {
	c, err := config.Load(writeConfig(t, "server:\n  name: X\ngame:\n  start_room: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := config.DecodeGame(c, nil); err == nil || !strings.Contains(err.Error(),
		"config.yaml:3: game: this game takes no settings") {
		t.Errorf("DecodeGame(nil) = %v", err)
	}
	for _, body := range []string{"server:\n  name: X\n", "game: {}\n", "game:\n"} {
		c, err := config.Load(writeConfig(t, body))
		if err != nil {
			t.Fatal(err)
		}
		if err := config.DecodeGame(c, nil); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
	var notStruct int
	if err := config.DecodeGame(c, &notStruct); err == nil {
		t.Error("a pointer to an int was taken for settings")
	}
}

// TestGameEnv: PORTICO_GAME_<KEY> sets a top-level key of the block (read
// as YAML), and one the game does not have is named by its variable.
func TestGameEnv(t *testing.T) {
	t.Setenv("PORTICO_GAME_START_ROOM", "12")
	t.Setenv("PORTICO_GAME_EXITS", "[in, out]")
	s, err := decodeGame(t, "game:\n  start_room: 2\n")
	if err != nil {
		t.Fatal(err)
	}
	if s.StartRoom != 12 || !slices.Equal(s.Exits, []string{"in", "out"}) {
		t.Errorf("decoded %+v", s)
	}
	t.Setenv("PORTICO_GAME_STRAT_ROOM", "3")
	if _, err := decodeGame(t, "server:\n  name: X\n"); err == nil ||
		!strings.Contains(err.Error(), `$PORTICO_GAME_STRAT_ROOM: game.strat_room: unknown key (did you mean "start_room"?)`) {
		t.Errorf("an unknown variable: %v", err)
	}
}

// validated has a Validate method, which DecodeGame runs.
type validated struct {
	StartRoom int `mapstructure:"start_room"`
}

func (v *validated) Validate() error {
	if v.StartRoom < 1 {
		return config.Problem{Key: "game.start_room", Msg: "must be a room number, 1 or more"}
	}
	return nil
}

func TestGameValidate(t *testing.T) {
	c, err := config.Load(writeConfig(t, "server:\n  name: X\ngame:\n  start_room: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	v := validated{StartRoom: 1}
	if err := config.DecodeGame(c, &v); err == nil || !strings.HasSuffix(err.Error(), "config.yaml:4: game.start_room: must be a room number, 1 or more") {
		t.Errorf("DecodeGame = %v", err)
	}
}

// TestGameEditNotLive: a running host does not take an edit of the game
// block; it is refused by name, as other keys that need a restart are.
func TestGameEditNotLive(t *testing.T) {
	path := writeConfig(t, "game:\n  start_room: 2\n")
	cur, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("game:\n  start_room: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	next, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if changed, fixed := config.Changes(cur, next); !slices.Equal(changed, []string{"game"}) || !slices.Equal(fixed, []string{"game"}) {
		t.Errorf("Changes = %v, %v; want game, not live", changed, fixed)
	}
	if err := os.WriteFile(path, []byte("game:\n  start_room: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	same, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if changed, _ := config.Changes(cur, same); len(changed) != 0 {
		t.Errorf("no edit reported as %v", changed)
	}
}

// TestGameEffective: config check shows the game's settings with their
// defaults, secrets masked and environment values named.
func TestGameEffective(t *testing.T) {
	t.Setenv("PORTICO_GAME_WELCOME", "Hi there")
	c, err := config.Load(writeConfig(t, "game:\n  api_token: abc\n"))
	if err != nil {
		t.Fatal(err)
	}
	var raw strings.Builder
	if err := c.WriteEffective(&raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(raw.String(), "game:\n  api_token: '********'\n  welcome: Hi there # from $PORTICO_GAME_WELCOME") {
		t.Errorf("before DecodeGame, the block as given:\n%s", raw.String())
	}
	s := defaults()
	if err := config.DecodeGame(c, &s); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := c.WriteEffective(&out); err != nil {
		t.Fatal(err)
	}
	want := `game:
  start_room: 1
  welcome: Hi there # from $PORTICO_GAME_WELCOME
  tick: 1m
  exits:
    - "n"
    - s
  api_token: '********'
  weather:
    enabled: false
    every: 10
`
	if !strings.HasSuffix(out.String(), want) {
		t.Errorf("effective config ends\n%s\nwant\n%s", out.String(), want)
	}
}

// DecodeGame fills a game's settings from the game: block; keys the block
// leaves out keep the defaults the struct held. The host does this for
// the struct a game registers with host.WithGameConfig.
func ExampleDecodeGame() {
	dir, err := os.MkdirTemp("", "config-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "config.yaml")
	_ = os.WriteFile(path, []byte("game:\n  start_room: 4\n"), 0o600)
	c, err := config.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	settings := struct {
		StartRoom int    `mapstructure:"start_room"`
		Welcome   string `mapstructure:"welcome"`
	}{StartRoom: 1, Welcome: "Hello!"}
	if err := config.DecodeGame(c, &settings); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(settings.StartRoom, settings.Welcome)
	// Output: 4 Hello!
}
