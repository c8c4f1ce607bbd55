package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"
)

// GameKey is the key of the game's own block in config.yaml, and the
// start of its environment variables: PORTICO_GAME_<KEY> sets one
// top-level key of the block, its value read as YAML.
const GameKey = "game"

// DecodeGame decodes the game block of c into into, a pointer to the
// struct of settings the game registered (host.WithGameConfig), as
// strictly as the host's own keys: an unknown key is an error naming it
// (with the nearest known one), a value of the wrong type names what is
// wanted, and each problem says where the value came from. Keys are
// matched to the struct's mapstructure tags (or, untagged, to field names
// in any letter case); viper lower-cases keys, so tags are lower case. A
// key the block does not give keeps the value into already holds: the
// game's defaults. When the decoded struct has a Validate() error method,
// it runs last; a Problem or Problems it returns is located as Load's are.
//
// into nil means the game takes no settings: a game block with keys in it
// is then an error. Its error is a Problems.
func DecodeGame(c *Config, into any) error {
	if into == nil {
		if len(c.Game) == 0 {
			return nil
		}
		return Problems{c.Problem(GameKey, "this game takes no settings (it registers none with host.WithGameConfig); remove the block")}
	}
	if rv := reflect.ValueOf(into); rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: the game's settings must be a pointer to a struct, not %T", into)
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:  mapstructure.DecodeHookFuncType(decodeHook),
		ErrorUnused: true,
		// A map or list given in the block replaces the default one
		// instead of being merged into it (which would change the
		// defaults the game registered).
		ZeroFields: true,
		Result:     into,
	})
	if err != nil {
		return fmt.Errorf("config: game: %w", err)
	}
	if err := dec.Decode(c.Game); err != nil {
		ps := c.gameProblems(err, reflect.TypeOf(into))
		sortProblems(ps)
		return ps
	}
	if v, ok := into.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			var ps Problems
			var p Problem
			switch {
			case errors.As(err, &ps):
			case errors.As(err, &p):
				ps = Problems{p}
			default:
				ps = Problems{{Key: GameKey, Msg: err.Error()}}
			}
			for i := range ps {
				if ps[i].Key == "" {
					ps[i].Key = GameKey
				}
				ps[i].Where = c.Problem(ps[i].Key, "").Where
			}
			sortProblems(ps)
			return ps
		}
	}
	c.game = into
	return nil
}

// gameProblems reports the strict decode's errors, each on its key under
// game.
func (c *Config) gameProblems(err error, t reflect.Type) Problems {
	var ps Problems
	at := func(key string) string {
		if key == "" {
			return GameKey
		}
		return GameKey + "." + key
	}
	for _, fe := range decodeErrors(err) {
		if keys, ok := invalidKeys(fe.err); ok {
			for _, k := range keys {
				ps = append(ps, c.Problem(at(strings.TrimPrefix(fe.key+"."+k, ".")),
					"unknown key"+suggest(k, fieldNamesIn(t, fe.key), "")))
			}
			continue
		}
		var ne *nestedError
		if errors.As(fe.err, &ne) {
			for _, k := range ne.keys {
				ps = append(ps, c.Problem(at(fe.key)+"."+k, fmt.Sprintf("unknown key (%s takes a single value, not a mapping)", at(fe.key))))
			}
			continue
		}
		ps = append(ps, c.Problem(at(fe.key), fe.err.Error()))
	}
	return ps
}

// addGame appends the game block to root, the effective config, when
// there is one to show.
func (c *Config) addGame(root *yaml.Node) error {
	game, err := c.gameNode()
	if err != nil || game == nil {
		return err
	}
	root.Content = append(root.Content, keyNode(GameKey), game)
	return nil
}

// gameNode is the game block as `config check` shows it: the decoded
// settings, defaults included, when DecodeGame ran; else the block as
// given. Secrets are masked; nil when there is nothing to show.
func (c *Config) gameNode() (*yaml.Node, error) {
	if c.game == nil {
		if len(c.Game) == 0 {
			return nil, nil
		}
		m := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range sortedKeys(c.Game) {
			if err := c.addValue(m, k, GameKey+"."+k, mask(k, c.Game[k])); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
	return c.structNode(reflect.ValueOf(c.game).Elem(), GameKey)
}

// structNode renders struct v (the settings under key) in field order.
func (c *Config) structNode(v reflect.Value, key string) (*yaml.Node, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fv := v.Field(i)
		for fv.Kind() == reflect.Pointer && !fv.IsNil() {
			fv = fv.Elem()
		}
		if fv.Kind() == reflect.Struct && fv.Type() != durationType {
			sub, err := c.structNode(fv, key+"."+name)
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, keyNode(name), sub)
			continue
		}
		val := fv.Interface()
		switch {
		case Secret(name) && !fv.IsZero():
			val = Masked
		case fv.Type() == durationType || fv.Type() == digestType:
			val = Format(val)
		default:
			val = mask(name, val)
		}
		if err := c.addValue(m, name, key+"."+name, val); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
