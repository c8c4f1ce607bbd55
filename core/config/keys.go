package config

import (
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/logging"
)

// Key is one host key: a leaf of the server or limits block.
type Key struct {
	// Name is the key as config.yaml spells it: "limits.command_rate".
	Name string
	// Env is the environment variable that overrides it.
	Env string
	// Live reports whether a running host applies a change of it (the
	// live tag).
	Live bool
	// Field is the struct field that holds it.
	Field reflect.StructField

	index    []int
	min, max reflect.Value // bounds; invalid when there are none
	required bool
}

// Keys lists the host keys in the order of the struct, which is the order
// of config.yaml.
func Keys() []Key { return slices.Clone(hostKeys()) }

// Value returns the key's value in c.
func (k Key) Value(c *Config) any { return k.field(c).Interface() }

func (k Key) field(c *Config) reflect.Value { return reflect.ValueOf(c).Elem().FieldByIndex(k.index) }

// hostKeys reads the keys from the struct once. A malformed tag is a
// programming error caught by every test that loads a config: it panics.
var hostKeys = sync.OnceValue(func() []Key {
	var out []Key
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := f.Tag.Get("mapstructure")
			if name == "" || name == "-" {
				continue
			}
			idx := append(slices.Clone(index), i)
			switch {
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, prefix+name+".", idx)
			case f.Type.Kind() == reflect.Map:
				// The plugin blocks: not host keys (see Load).
			default:
				out = append(out, newKey(prefix+name, f, idx))
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
})

func newKey(name string, f reflect.StructField, index []int) Key {
	k := Key{Name: name, Env: EnvName(name), Live: f.Tag.Get("live") == "true", Field: f, index: index,
		required: f.Tag.Get("required") == "true"}
	bound := func(tag string) reflect.Value {
		s, ok := f.Tag.Lookup(tag)
		if !ok {
			return reflect.Value{}
		}
		v, err := convert(s, f.Type)
		if err != nil {
			panic(fmt.Sprintf("config: %s: %s tag: %v", name, tag, err))
		}
		return reflect.ValueOf(v)
	}
	k.min, k.max = bound("min"), bound("max")
	if !k.min.IsValid() && isNumber(f.Type) {
		k.min = reflect.Zero(f.Type)
	}
	return k
}

func isNumber(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// compare returns -1, 0 or 1 as a is less than, equal to or more than b
// (two numbers of one type).
func compare(a, b reflect.Value) int {
	switch a.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		x, y := a.Uint(), b.Uint()
		return cmpOrdered(x, y)
	case reflect.Float32, reflect.Float64:
		return cmpOrdered(a.Float(), b.Float())
	}
	return cmpOrdered(a.Int(), b.Int())
}

func cmpOrdered[T int64 | uint64 | float64](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// check returns what is wrong with the key's value v, or "".
func (k Key) check(v reflect.Value) string {
	if k.required && strings.TrimSpace(v.String()) == "" {
		return "must not be empty"
	}
	if k.min.IsValid() && compare(v, k.min) < 0 {
		if k.min.IsZero() {
			return "must not be negative, got " + Format(v.Interface())
		}
		return fmt.Sprintf("must be at least %s, got %s", Format(k.min.Interface()), Format(v.Interface()))
	}
	if k.max.IsValid() && compare(v, k.max) > 0 {
		return fmt.Sprintf("must be at most %s, got %s", Format(k.max.Interface()), Format(v.Interface()))
	}
	return ""
}

// DatabaseKey is server.database, whose password is never shown.
const DatabaseKey = "server.database"

// databaseProblem returns what is wrong with a server.database value, or
// "". The message never quotes the value: it may hold a password.
func databaseProblem(v string) string {
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "must be empty (SQLite in data_dir) or a PostgreSQL URL, postgres://USER:PASSWORD@HOST:PORT/DBNAME"
	}
	return ""
}

var pluginName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

const pluginNameRule = "plugin names are lower-case letters, digits, - and _, start with a letter, at most 32"

// CheckPluginName returns an error when name cannot be a plugin block's
// name (plugins.<name>). It is exported so that what else is named after a
// block — an edge's certificate (core/pki), whose name is its block's —
// follows the one rule Validate applies.
func CheckPluginName(name string) error {
	if !pluginName.MatchString(name) {
		return fmt.Errorf("%q is not a plugin name: %s", name, pluginNameRule)
	}
	return nil
}

// Validate checks values that parse but make no sense, naming the key: the
// bounds of each key's min, max and required tags, and the plugin names.
// Its error is a Problems.
func (c *Config) Validate() error {
	var ps Problems
	for _, k := range hostKeys() {
		if msg := k.check(k.field(c)); msg != "" {
			ps = append(ps, Problem{Key: k.Name, Msg: msg})
		}
	}
	if msg := databaseProblem(c.Server.Database); msg != "" {
		ps = append(ps, Problem{Key: DatabaseKey, Msg: msg})
	}
	if _, err := logging.ParseLevel(c.Log.Level); err != nil {
		ps = append(ps, Problem{Key: "log.level", Msg: err.Error()})
	}
	if err := logging.CheckFormat(c.Log.Format); err != nil {
		ps = append(ps, Problem{Key: "log.format", Msg: err.Error()})
	}
	if _, err := c.Limits.Exempt.Parse(); err != nil {
		ps = append(ps, Problem{Key: "limits.exempt", Msg: err.Error()})
	}
	if _, err := c.Limits.TrustedProxies.Parse(); err != nil {
		ps = append(ps, Problem{Key: "limits.trusted_proxies", Msg: err.Error()})
	}
	if msg := listenProblem(c.Server.PortalListen); msg != "" {
		ps = append(ps, Problem{Key: PortalListenKey, Msg: msg})
	}
	for name, p := range c.Plugins {
		if !pluginName.MatchString(name) {
			ps = append(ps, Problem{Key: "plugins." + name, Msg: pluginNameRule})
			continue
		}
		ps = append(ps, c.remoteProblems(name, p)...)
	}
	if len(ps) == 0 {
		return nil
	}
	sortProblems(ps)
	return ps
}

// PortalListenKey is server.portal_listen, where remote plugins dial in.
const PortalListenKey = "server.portal_listen"

// listenProblem returns what is wrong with an address to listen on, or ""
// for a good one or none: host:port, the host optional (all interfaces),
// the port a number from 1 to 65535 (an edge must be told which port to
// dial, so 0, any port, makes no sense).
func listenProblem(v string) string {
	if v == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Sprintf("want host:port (such as 0.0.0.0:7400 or :7400), got %q", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("want a port from 1 to 65535, got %q", port)
	}
	return ""
}

// remoteProblems checks the keys of plugin block name that say how it is
// run: a remote block has no binary for the host to launch or check, and
// needs server.portal_listen to dial; a protocol is named as a plugin is.
func (c *Config) remoteProblems(name string, p Plugin) []Problem {
	var ps []Problem
	key := "plugins." + name + "."
	if p.Protocol != "" && !pluginName.MatchString(p.Protocol) {
		ps = append(ps, Problem{Key: key + "protocol", Msg: "protocol names follow the plugin name rule: " + pluginNameRule})
	}
	if !p.Remote {
		return ps
	}
	if p.Path != "" {
		ps = append(ps, Problem{Key: key + "path",
			Msg: "a remote plugin is started on its own machine, never by the host: remove path (or remote: true)"})
	}
	if len(p.SHA256) > 0 {
		ps = append(ps, Problem{Key: key + "sha256",
			Msg: "a remote plugin is started on its own machine, never by the host: remove sha256 (or remote: true); its certificate is what the host checks"})
	}
	if p.Enabled && c.Server.PortalListen == "" {
		ps = append(ps, Problem{Key: key + "remote",
			Msg: "an enabled remote plugin dials server.portal_listen, which is empty: set it (such as 0.0.0.0:7400)"})
	}
	return ps
}

// Changes compares next with cur, the running config, key by key: changed
// are the host keys whose value differs, and fixed those among them that a
// running host does not take (no live tag). The game block counts as one
// key, game, that a running host does not take: the game decoded it when
// the host started. Plugin blocks are not compared: the plugin manager
// applies them.
func Changes(cur, next *Config) (changed, fixed []string) {
	for _, k := range hostKeys() {
		if reflect.DeepEqual(k.Value(cur), k.Value(next)) {
			continue
		}
		changed = append(changed, k.Name)
		if !k.Live {
			fixed = append(fixed, k.Name)
		}
	}
	if !reflect.DeepEqual(emptyAsNil(cur.Game), emptyAsNil(next.Game)) {
		changed = append(changed, GameKey)
		fixed = append(fixed, GameKey)
	}
	return changed, fixed
}

func emptyAsNil(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// EnvPrefix starts every environment variable that overrides a key.
const EnvPrefix = "PORTICO_"

// EnvName returns the environment variable that overrides key: PORTICO_
// and the key upper-cased, with dots and dashes as underscores
// ("server.name" -> PORTICO_SERVER_NAME).
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// pluginEnvName is how plugin name appears in its variables:
// PORTICO_PLUGINS_<NAME>_..., upper-cased with - as _.
func pluginEnvName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Format writes a value as config.yaml would: durations short (5m, 1h30m,
// 0), everything else as fmt does.
func Format(v any) string {
	switch x := v.(type) {
	case time.Duration:
		return shortDuration(x)
	case Digest:
		return fmt.Sprintf("%x", []byte(x))
	case contract.Addresses:
		return "[" + strings.Join(x.List(), ", ") + "]"
	}
	return fmt.Sprint(v)
}

func shortDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// secretWords, as the last word of a key's name, mark a secret: `portico
// config check` masks it. See Secret.
var secretWords = []string{"password", "passwd", "passphrase", "secret", "token", "key", "apikey",
	"credential", "credentials"}

// Secret reports whether a key named name holds a secret, going by the name
// alone (a value can be anything): its last word (words are split at _, -
// and .) is password, passwd, passphrase, secret, token, key, apikey or
// credential(s) (nickserv_password, api_key), or any word is private
// (private_key_file) — unless a word is public (public_key).
// password_min_length is not a secret, token_file is not (a path); host_key
// and tls_key are masked although they name files: the rule cannot tell,
// and showing too little is the safe mistake.
func Secret(name string) bool {
	words := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return r == '_' || r == '-' || r == '.' })
	if len(words) == 0 || slices.Contains(words, "public") {
		return false
	}
	return slices.Contains(secretWords, words[len(words)-1]) || slices.Contains(words, "private")
}
