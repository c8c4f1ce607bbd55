package config

import (
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ProblemAt is Problem about key, located where the value of at came from
// (a key under key: the unknown key of a plugin's block is reported on
// the block, at its own line).
func (c *Config) ProblemAt(at, key, msg string) Problem {
	p := c.Problem(at, msg)
	p.Key = key
	return p
}

// Masked stands for a secret's value in WriteEffective's output.
const Masked = "********"

// Problem returns a problem about key found after Load (a plugin's binary,
// a plugin's own check of its block), located where key's value came from:
// its environment variable, or its line in the file (or its nearest
// parent's).
func (c *Config) Problem(key, msg string) Problem {
	l := loader{file: c.file, lines: c.lines, from: c.sources}
	return Problem{Where: l.where(key), Key: key, Msg: msg}
}

// WriteEffective writes c as the host runs with it, as YAML: every key,
// defaults filled in, the environment applied (a value from the
// environment names its variable in a comment), paths resolved (a plugin's
// binary where the host would launch it), plugins sorted by name, the
// game's block (its settings with their defaults once DecodeGame decoded
// them), and the value of every key that Secret names masked.
func (c *Config) WriteEffective(w io.Writer) error {
	root := &yaml.Node{Kind: yaml.MappingNode}
	sections := map[string]*yaml.Node{}
	for _, k := range hostKeys() {
		section, name, _ := strings.Cut(k.Name, ".")
		m, ok := sections[section]
		if !ok {
			m = &yaml.Node{Kind: yaml.MappingNode}
			sections[section] = m
			root.Content = append(root.Content, keyNode(section), m)
		}
		if err := c.addValue(m, name, k.Name, c.shown(k, name)); err != nil {
			return err
		}
	}
	plugins := &yaml.Node{Kind: yaml.MappingNode}
	root.Content = append(root.Content, keyNode("plugins"), plugins)
	for _, name := range slices.Sorted(maps.Keys(c.Plugins)) {
		block, err := c.pluginNode(name, c.Plugins[name])
		if err != nil {
			return err
		}
		plugins.Content = append(plugins.Content, keyNode(name), block)
	}
	if err := c.addGame(root); err != nil {
		return err
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root},
		HeadComment: fmt.Sprintf("The configuration the host runs with: the file\n%s\nand the environment, over the defaults. Secrets are shown as %s.", c.Path, Masked)}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("config: write: %w", err)
	}
	return enc.Close()
}

// pluginNode is the block of plugin name, p, as WriteEffective shows it.
func (c *Config) pluginNode(name string, p Plugin) (*yaml.Node, error) {
	prefix := "plugins." + name + "."
	block := &yaml.Node{Kind: yaml.MappingNode}
	if err := c.addValue(block, "enabled", prefix+"enabled", p.Enabled); err != nil {
		return nil, err
	}
	// A remote plugin has no binary here; a local one shows the
	// binary its protocol picks.
	if p.Remote {
		if err := c.addValue(block, "remote", prefix+"remote", true); err != nil {
			return nil, err
		}
	} else {
		path, err := c.PluginPath(p)
		if err != nil {
			return nil, err
		}
		if err := c.addValue(block, "path", prefix+"path", path); err != nil {
			return nil, err
		}
	}
	if proto := p.ProtocolName(); proto != "" {
		if err := c.addValue(block, "protocol", prefix+"protocol", proto); err != nil {
			return nil, err
		}
	}
	if len(p.SHA256) > 0 {
		if err := c.addValue(block, "sha256", prefix+"sha256", Format(p.SHA256)); err != nil {
			return nil, err
		}
	}
	if err := c.addValue(block, "trust_key_logins", prefix+"trust_key_logins", p.TrustKeyLogins); err != nil {
		return nil, err
	}
	cfg := &yaml.Node{Kind: yaml.MappingNode}
	block.Content = append(block.Content, keyNode("config"), cfg)
	for _, k := range slices.Sorted(maps.Keys(p.Config)) {
		if err := c.addValue(cfg, k, prefix+"config."+k, mask(k, p.Config[k])); err != nil {
			return nil, err
		}
	}
	return block, nil
}

// shown is host key k's value (name is its name in its section) as
// WriteEffective shows it: a secret masked, server.database with its
// password masked, durations and digests as config.yaml writes them.
func (c *Config) shown(k Key, name string) any {
	v := k.Value(c)
	switch {
	case Secret(name) && !k.field(c).IsZero():
		v = Masked
	case k.Name == DatabaseKey:
		v = maskURLPassword(c.Server.Database)
	case k.Field.Type == durationType && k.field(c).IsZero():
		v = 0
	case k.Field.Type == durationType || k.Field.Type == digestType:
		v = Format(v)
	}
	return v
}

// addValue appends name: v to mapping m, noting the variable that set key.
func (c *Config) addValue(m *yaml.Node, name, key string, v any) error {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return fmt.Errorf("config: write %s: %w", key, err)
	}
	if env, ok := c.sources[key]; ok {
		n.LineComment = "from $" + env
	}
	m.Content = append(m.Content, keyNode(name), &n)
	return nil
}

func keyNode(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

// mask returns v with the value of every key that Secret names masked, in
// nested mappings and lists too. Empty values stay: there is nothing to
// hide, and an empty secret is worth seeing.
func mask(key string, v any) any {
	if Secret(key) && v != nil && v != "" {
		return Masked
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = mask(k, e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = mask("", e)
		}
		return out
	}
	return v
}

// maskURLPassword returns a URL with its password (in the user part or a
// password parameter) shown as Masked, and the rest as it is: which server
// and database a host uses is worth seeing. What does not parse as a URL
// is masked whole.
func maskURLPassword(s string) string {
	if s == "" {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return Masked
	}
	// url.URL would escape the mask's asterisks in the user part: a
	// placeholder of letters goes in, and the mask replaces it after.
	const placeholder = "MASKEDPASSWORD"
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), placeholder)
	}
	params := strings.Split(u.RawQuery, "&")
	for i, p := range params {
		if name, _, _ := strings.Cut(p, "="); strings.EqualFold(name, "password") {
			params[i] = name + "=" + Masked
		}
	}
	u.RawQuery = strings.Join(params, "&")
	return strings.Replace(u.String(), ":"+placeholder+"@", ":"+Masked+"@", 1)
}
