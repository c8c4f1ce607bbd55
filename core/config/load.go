package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/go-viper/mapstructure/v2"
	"github.com/portico-mud/portico/sdk"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Where is where the value came from: "config.yaml:12" (the file and
	// line), the file alone when no line is known, or "$PORTICO_..." (the
	// environment variable).
	Where string
	// Key is the key it is about ("plugins.telnet.enabled"); empty for a
	// YAML syntax error.
	Key string
	// Msg says what is wrong.
	Msg string
}

func (p Problem) Error() string {
	s := p.Msg
	if p.Key != "" {
		s = p.Key + ": " + s
	}
	if p.Where != "" {
		s = p.Where + ": " + s
	}
	return s
}

// Problems is every problem Load found; its Error has one line for each.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Sort orders problems as a reader meets them: the file's by line, then
// the environment's and the rest by key.
func (ps Problems) Sort() { sortProblems(ps) }

func sortProblems(ps Problems) {
	rank := func(p Problem) (int, int) {
		if i := strings.LastIndexByte(p.Where, ':'); i >= 0 {
			if n, err := strconv.Atoi(p.Where[i+1:]); err == nil {
				return 0, n
			}
		}
		return 1, 0
	}
	sort.SliceStable(ps, func(i, j int) bool {
		ri, li := rank(ps[i])
		rj, lj := rank(ps[j])
		if ri != rj {
			return ri < rj
		}
		if li != lj {
			return li < lj
		}
		return ps[i].Key < ps[j].Key
	})
}

// Load reads path (config.yaml) and the PORTICO_* environment, over the
// defaults of Default, into a validated Config.
//
// Its error is a Problems, one line per problem, each naming the key and
// where its value came from: `config.yaml:12: plugins.telnet.enabled: want
// true or false, got "maybe"`. Unknown keys are errors (a typo is not a
// setting silently ignored), and so are unknown PORTICO_SERVER_*,
// PORTICO_LIMITS_* and PORTICO_PLUGINS_* variables.
//
// The environment: PORTICO_<KEY> for every host key, the key upper-cased
// with dots as _ (PORTICO_SERVER_NAME); for plugin blocks
// PORTICO_PLUGINS_<NAME>_ENABLED, _PATH, _SHA256, _TRUST_KEY_LOGINS,
// _REMOTE, _PROTOCOL and _CONFIG_<KEY>, NAME being the plugin's name upper-cased with - as _, and KEY one top-level key
// of its config block (lower-cased to find it). A _CONFIG_ value is read as
// YAML, so lists and numbers work; the others are read as the key's type.
// An empty variable counts as unset. A plugin may be given by the
// environment alone, with no block in the file.
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, Problems{{Where: path, Msg: err.Error()}}
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, Problems{{Where: path, Msg: "cannot read the file: " + err.Error()}}
	}
	l := &loader{file: path, lines: map[string]int{}, from: map[string]string{}, badPlugins: map[string]bool{}}
	c, ok := l.load(abs, data)
	if !ok {
		sortProblems(l.problems)
		return nil, l.problems
	}
	return c, nil
}

// loader holds what one Load learns on the way.
type loader struct {
	file     string
	problems Problems
	// lines maps each key of the file (lower-cased, dotted) to its line.
	lines map[string]int
	// from maps each key set by the environment to its variable.
	from map[string]string
	// filePlugins are the plugin names of the file, in order.
	filePlugins []string
	// badPlugins are the first key segments (as viper sees them) of plugin
	// names that are not valid: their blocks' other errors are noise.
	badPlugins map[string]bool
}

func (l *loader) add(key, msg string) {
	l.problems = append(l.problems, Problem{Where: l.where(key), Key: key, Msg: msg})
}

// where locates key: the environment variable that set it, or its line in
// the file (or its nearest parent's), or the file.
func (l *loader) where(key string) string {
	if v, ok := l.from[key]; ok {
		return "$" + v
	}
	for k := strings.ToLower(key); k != ""; {
		if n, ok := l.lines[k]; ok {
			return fmt.Sprintf("%s:%d", l.file, n)
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return l.file
}

func (l *loader) load(abs string, data []byte) (*Config, bool) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		l.problems = append(l.problems, syntaxProblem(l.file, data, err))
		return nil, false
	}
	l.walk(&doc)
	overrides := l.pluginEnv()
	overrides = append(overrides, l.gameEnv()...)
	l.hostEnv()
	if len(l.problems) > 0 {
		return nil, false
	}

	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		l.problems = append(l.problems, Problem{Where: l.file, Msg: err.Error()})
		return nil, false
	}
	for _, k := range hostKeys() {
		if err := v.BindEnv(k.Name, k.Env); err != nil {
			panic(err) // only for a missing key name
		}
	}
	for _, o := range overrides {
		v.Set(o.key, o.value)
	}
	c := Default()
	err := v.UnmarshalExact(&c, viper.DecodeHook(mapstructure.DecodeHookFuncType(decodeHook)),
		func(dc *mapstructure.DecoderConfig) { dc.WeaklyTypedInput = false })
	if err != nil {
		l.decodeProblems(err)
		return nil, false
	}

	c.Path = abs
	base := filepath.Dir(abs)
	c.Server.DataDir = resolve(base, c.Server.DataDir)
	if c.Plugins == nil {
		c.Plugins = map[string]Plugin{}
	}
	for name, p := range c.Plugins {
		p.Name = name
		p.Path = resolve(base, p.Path)
		if p.Config == nil {
			p.Config = map[string]any{}
		}
		c.Plugins[name] = p
	}
	c.file, c.lines, c.sources = l.file, l.lines, l.from
	if err := c.Validate(); err != nil {
		var ps Problems
		if !errors.As(err, &ps) {
			ps = Problems{{Msg: err.Error()}}
		}
		for _, p := range ps {
			p.Where = l.where(p.Key)
			l.problems = append(l.problems, p)
		}
		return nil, false
	}
	return &c, true
}

// yamlLine is how yaml.v3 starts a syntax error.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxProblem reports a YAML syntax error at the line at fault. yaml.v3
// names the line where the construct around the error began rather than
// the one at fault (a mis-indented key on line 3 is reported on line 2), so
// the line is found again: it follows the longest start of the file that
// still parses, after which every longer start fails.
func syntaxProblem(file string, data []byte, err error) Problem {
	lines := strings.SplitAfter(string(data), "\n")
	at := 0
	for n := len(lines) - 1; n >= 0; n-- {
		var node yaml.Node
		if yaml.Unmarshal([]byte(strings.Join(lines[:n], "")), &node) == nil {
			at = n + 1
			// Say what is wrong at that line, not at the end of the file.
			if e := yaml.Unmarshal([]byte(strings.Join(lines[:n+1], "")), &node); e != nil {
				err = e
			}
			break
		}
	}
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		msg = m[2]
		if at == 0 {
			at, _ = strconv.Atoi(m[1])
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	where := file
	if at > 0 {
		where = fmt.Sprintf("%s:%d", file, at)
	}
	return Problem{Where: where, Msg: "YAML syntax error: " + msg}
}

// walk records the line of every key in the file, checks what the strict
// unmarshal cannot see (keys given twice, plugin names as written) and
// collects the plugin names.
func (l *loader) walk(doc *yaml.Node) {
	if len(doc.Content) == 0 {
		return // an empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			return // a file of comments only
		}
		l.problems = append(l.problems, Problem{Where: fmt.Sprintf("%s:%d", l.file, root.Line),
			Msg: "want a mapping of keys (server, limits, plugins, game) at the top of the file"})
		return
	}
	var visit func(n *yaml.Node, prefix string)
	visit = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key := prefix + strings.ToLower(k.Value)
			if first, dup := seen[key]; dup {
				l.problems = append(l.problems, Problem{Where: fmt.Sprintf("%s:%d", l.file, k.Line), Key: key,
					Msg: fmt.Sprintf("given twice (first on line %d)", first)})
				continue
			}
			seen[key] = k.Line
			l.lines[key] = k.Line
			visit(val, key+".")
		}
	}
	visit(root, "")
	for i := 0; i+1 < len(root.Content); i += 2 {
		if strings.ToLower(root.Content[i].Value) != "plugins" || root.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		blocks := root.Content[i+1].Content
		for j := 0; j+1 < len(blocks); j += 2 {
			name := blocks[j].Value
			if !pluginName.MatchString(name) {
				l.problems = append(l.problems, Problem{Where: fmt.Sprintf("%s:%d", l.file, blocks[j].Line),
					Key: "plugins." + name, Msg: pluginNameRule})
				seg, _, _ := strings.Cut(strings.ToLower(name), ".")
				l.badPlugins[seg] = true
				continue
			}
			l.filePlugins = append(l.filePlugins, name)
		}
	}
}

// override is one plugin key set by the environment.
type override struct {
	env, key string
	value    any
}

const pluginsPrefix = EnvPrefix + "PLUGINS_"

// pluginEnv reads the PORTICO_PLUGINS_* variables. A variable belongs to
// the file's plugin whose NAME it starts with (the longest, when several
// do); otherwise it names a plugin of its own, given by the environment
// alone: NAME is what precedes _CONFIG_, or one of the block's other keys
// (pluginFields: _ENABLED, _PATH ...) at the end, lower-cased.
func (l *loader) pluginEnv() []override {
	byEnv := map[string]string{}
	for _, name := range l.filePlugins {
		n := pluginEnvName(name)
		if other, ok := byEnv[n]; ok {
			l.add("plugins."+name, fmt.Sprintf("its variables (%s%s_*) are also plugins.%s's; rename one of the two",
				pluginsPrefix, n, other))
			continue
		}
		byEnv[n] = name
	}
	for _, a := range l.filePlugins {
		for _, b := range l.filePlugins {
			na, nb := pluginEnvName(a), pluginEnvName(b)
			if strings.HasPrefix(nb, na+"_CONFIG_") || nb == na+"_CONFIG" {
				l.add("plugins."+b, fmt.Sprintf("its variables (%s%s_*) would also be read as plugins.%s.config keys; rename one of the two",
					pluginsPrefix, nb, a))
			}
		}
	}
	var out []override
	for _, v := range prefixedEnv(pluginsPrefix) {
		name, rest, value := v.name, v.rest, v.value
		// The file's plugins first, the longest name first.
		plugin, field, matched := "", "", ""
		for n, p := range byEnv {
			if f, ok := strings.CutPrefix(rest, n+"_"); ok && pluginField(f) && len(n) > len(matched) {
				plugin, field, matched = p, f, n
			}
		}
		if plugin == "" {
			n, f, ok := splitPluginVar(rest)
			if !ok {
				l.problems = append(l.problems, Problem{Where: "$" + name,
					Msg: "want " + pluginsPrefix + "<NAME>" + pluginFieldsText()})
				continue
			}
			plugin, field = strings.ToLower(n), f
			if !pluginName.MatchString(plugin) {
				l.problems = append(l.problems, Problem{Where: "$" + name, Key: "plugins." + plugin, Msg: pluginNameRule})
				continue
			}
		}
		o := override{env: name}
		if k, ok := strings.CutPrefix(field, "CONFIG_"); ok {
			o.key = "plugins." + plugin + ".config." + strings.ToLower(k)
			if err := yaml.Unmarshal([]byte(value), &o.value); err != nil {
				l.problems = append(l.problems, Problem{Where: "$" + name, Key: o.key,
					Msg: "want a YAML value: " + strings.TrimPrefix(err.Error(), "yaml: ")})
				continue
			}
		} else {
			o.key, o.value = "plugins."+plugin+"."+strings.ToLower(field), value
		}
		l.from[o.key] = name
		out = append(out, o)
	}
	return out
}

// envVar is one environment variable: its name, what follows a prefix,
// and its value.
type envVar struct{ name, rest, value string }

// prefixedEnv returns the set variables whose names start with prefix,
// sorted by name (an empty variable counts as unset).
func prefixedEnv(prefix string) []envVar {
	env := os.Environ()
	slices.Sort(env)
	var out []envVar
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if rest, ok := strings.CutPrefix(name, prefix); ok && value != "" {
			out = append(out, envVar{name, rest, value})
		}
	}
	return out
}

const gamePrefix = EnvPrefix + "GAME_"

// gameEnv reads the PORTICO_GAME_<KEY> variables: KEY, lower-cased, is one
// top-level key of the game block, and the value is read as YAML, as for a
// plugin's config block. Whether the game has such a key is DecodeGame's
// to say: only the game knows its settings.
func (l *loader) gameEnv() []override {
	var out []override
	for _, v := range prefixedEnv(gamePrefix) {
		name, rest, value := v.name, v.rest, v.value
		if rest == "" {
			l.problems = append(l.problems, Problem{Where: "$" + name, Msg: "want " + gamePrefix + "<KEY>"})
			continue
		}
		o := override{env: name, key: GameKey + "." + strings.ToLower(rest)}
		if err := yaml.Unmarshal([]byte(value), &o.value); err != nil {
			l.problems = append(l.problems, Problem{Where: "$" + name, Key: o.key,
				Msg: "want a YAML value: " + strings.TrimPrefix(err.Error(), "yaml: ")})
			continue
		}
		l.from[o.key] = name
		out = append(out, o)
	}
	return out
}

// pluginFields are the plugin block's keys other than config, upper-cased
// as their variables spell them (ENABLED, PATH, ...), read from Plugin's
// tags so that a new key has its variable without another list to edit.
var pluginFields = sync.OnceValue(func() []string {
	var out []string
	t := reflect.TypeFor[Plugin]()
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("mapstructure")
		if name != "" && name != "-" && name != "config" {
			out = append(out, strings.ToUpper(name))
		}
	}
	return out
})

// pluginFieldsText lists the plugin variables' endings for messages:
// "_ENABLED, _PATH, ... or _CONFIG_<KEY>".
func pluginFieldsText() string {
	return "_" + strings.Join(pluginFields(), ", _") + " or _CONFIG_<KEY>"
}

// pluginField reports whether f (what follows PORTICO_PLUGINS_<NAME>_) is
// a plugin block's key.
func pluginField(f string) bool {
	if slices.Contains(pluginFields(), f) {
		return true
	}
	k, ok := strings.CutPrefix(f, "CONFIG_")
	return ok && k != ""
}

// splitPluginVar splits <NAME>_<FIELD> for a plugin that is not in the
// file.
func splitPluginVar(rest string) (name, field string, ok bool) {
	if i := strings.Index(rest, "_CONFIG_"); i > 0 && i+len("_CONFIG_") < len(rest) {
		return rest[:i], rest[i+1:], true
	}
	for _, f := range pluginFields() {
		if n, ok := strings.CutSuffix(rest, "_"+f); ok && n != "" {
			return n, f, true
		}
	}
	return "", "", false
}

// hostEnv notes which host keys the environment sets, and refuses
// PORTICO_SERVER_*, PORTICO_LIMITS_* and PORTICO_LOG_* variables that name no key.
func (l *loader) hostEnv() {
	known := map[string]string{}
	var names []string
	for _, k := range hostKeys() {
		known[k.Env] = k.Name
		names = append(names, k.Env)
		if os.Getenv(k.Env) != "" {
			l.from[k.Name] = k.Env
		}
	}
	env := os.Environ()
	slices.Sort(env)
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if value == "" || (!strings.HasPrefix(name, EnvPrefix+"SERVER_") && !strings.HasPrefix(name, EnvPrefix+"LIMITS_") &&
			!strings.HasPrefix(name, EnvPrefix+"LOG_")) {
			continue
		}
		if _, ok := known[name]; !ok {
			l.problems = append(l.problems, Problem{Where: "$" + name, Msg: "no such key" + suggest(name, names, "$")})
		}
	}
}

// decodeProblems reports the strict unmarshal's errors, each on its key.
func (l *loader) decodeProblems(err error) {
	for _, fe := range decodeErrors(err) {
		if l.underBadPlugin(fe.key) {
			continue
		}
		if keys, ok := invalidKeys(fe.err); ok {
			for _, k := range keys {
				key := strings.TrimPrefix(fe.key+"."+k, ".")
				if !l.underBadPlugin(key) {
					l.add(key, "unknown key"+suggest(k, fieldNames(fe.key), ""))
				}
			}
			continue
		}
		var ne *nestedError
		if errors.As(fe.err, &ne) {
			for _, k := range ne.keys {
				l.add(fe.key+"."+k, fmt.Sprintf("unknown key (%s takes a single value, not a mapping)", fe.key))
			}
			continue
		}
		l.add(fe.key, fe.err.Error())
	}
}

func (l *loader) underBadPlugin(key string) bool {
	rest, ok := strings.CutPrefix(key, "plugins.")
	if !ok {
		return false
	}
	seg, _, _ := strings.Cut(rest, ".")
	return l.badPlugins[seg]
}

// fieldNames returns the keys config.yaml allows at key (a mapping):
// "" for the top, "server", "plugins.telnet" ...
func fieldNames(key string) []string { return fieldNamesIn(reflect.TypeFor[Config](), key) }

// fieldNamesIn returns the keys allowed at key (relative to t, "" for t
// itself) in a struct of type t.
func fieldNamesIn(t reflect.Type, key string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if key != "" {
		for _, seg := range strings.Split(key, ".") {
			switch t.Kind() {
			case reflect.Map:
				t = t.Elem()
			case reflect.Struct:
				f, ok := fieldByTag(t, seg)
				if !ok {
					return nil
				}
				t = f.Type
				for t.Kind() == reflect.Pointer {
					t = t.Elem()
				}
			default:
				return nil
			}
		}
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		switch tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ","); {
		case !f.IsExported() || tag == "-":
		case tag == "":
			// mapstructure matches an untagged field by its name, in any
			// letter case (a game's settings may leave tags out).
			out = append(out, strings.ToLower(f.Name))
		default:
			out = append(out, tag)
		}
	}
	return out
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if name == tag || name == "" && f.IsExported() && strings.EqualFold(f.Name, tag) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// suggest returns ` (did you mean "x"?)` for the option nearest to word, a
// list of the options when there are few (up to 7: a plugin block's
// keys), or "".
func suggest(word string, options []string, quote string) string {
	best := sdk.NearestName(word, options)
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", q(best, quote))
	}
	if n := len(options); n > 0 && n <= 7 {
		qs := make([]string, n)
		for i, o := range options {
			qs[i] = quote + o
		}
		if n == 1 {
			return " (want " + qs[0] + ")"
		}
		return " (want " + strings.Join(qs[:n-1], ", ") + " or " + qs[n-1] + ")"
	}
	return ""
}

func q(s, prefix string) string {
	if prefix != "" {
		return prefix + s
	}
	return strconv.Quote(s)
}
