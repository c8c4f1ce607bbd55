package config

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// modulePath is this repository's module; a package's source is found
// under the repository root by its import path.
const modulePath = "github.com/portico-mud/portico"

// repoRoot is the repository root, from this package's directory.
var repoRoot = filepath.Join("..", "..")

// fieldDocs returns the doc comment of every host key's field, read from
// the Go source of the struct that holds it (config.Server, contract.Limits
// ...), keyed by the key's name.
func fieldDocs(t *testing.T) map[string]string {
	t.Helper()
	docs := map[string]string{}
	parsed := map[string]map[string]*ast.StructType{} // dir -> type name -> struct
	for _, k := range Keys() {
		owner := ownerOf(t, k.Name)
		dir := filepath.Join(repoRoot, strings.TrimPrefix(owner.PkgPath(), modulePath))
		structs, ok := parsed[dir]
		if !ok {
			structs = parseStructs(t, dir)
			parsed[dir] = structs
		}
		st, ok := structs[owner.Name()]
		if !ok {
			t.Fatalf("%s: type %s not found in %s", k.Name, owner.Name(), dir)
		}
		for _, f := range st.Fields.List {
			for _, n := range f.Names {
				if n.Name == k.Field.Name {
					docs[k.Name] = f.Doc.Text()
				}
			}
		}
		if _, ok := docs[k.Name]; !ok {
			t.Fatalf("%s: field %s.%s not found in %s", k.Name, owner.Name(), k.Field.Name, dir)
		}
	}
	return docs
}

// ownerOf returns the struct type that holds key's field.
func ownerOf(t *testing.T, key string) reflect.Type {
	t.Helper()
	typ := reflect.TypeFor[Config]()
	segs := strings.Split(key, ".")
	for _, seg := range segs[:len(segs)-1] {
		f, ok := fieldByTag(typ, seg)
		if !ok {
			t.Fatalf("%s: no field for %q in %s", key, seg, typ)
		}
		typ = f.Type
	}
	return typ
}

// parseStructs parses the Go files (not tests) of dir and returns their
// struct types by name.
func parseStructs(t *testing.T, dir string) map[string]*ast.StructType {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*ast.StructType{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					out[ts.Name.Name] = st
				}
			}
			return true
		})
	}
	return out
}

// yamlComments returns, for every key of a config.yaml, the comment lines
// right above it (at its indentation, no blank line between), joined.
func yamlComments(data []byte) (map[string]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	lines := strings.Split(string(data), "\n")
	out := map[string]string{}
	var visit func(n *yaml.Node, prefix string)
	visit = func(n *yaml.Node, prefix string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			key := prefix + k.Value
			var above []string
			indent := strings.Repeat(" ", k.Column-1)
			for l := k.Line - 2; l >= 0; l-- {
				// Exactly the key's indentation: a comment indented more
				// belongs to what is above.
				text, ok := strings.CutPrefix(lines[l], indent+"#")
				if !ok {
					break
				}
				above = append([]string{text}, above...)
			}
			out[key] = strings.Join(above, "\n")
			visit(n.Content[i+1], key+".")
		}
	}
	if len(doc.Content) > 0 {
		visit(doc.Content[0], "")
	}
	return out, nil
}

// normalize makes two comments comparable whatever their line breaks.
func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

var defaultSentence = regexp.MustCompile(`Default: (.+)\.$`)

// docSyncProblems checks config.yaml (data) against the host keys' doc
// comments (docs, by key): every key is in the file, with the same comment
// above it, and the comment ends with "Default: X." where X is the key's
// default in Default.
func docSyncProblems(data []byte, docs map[string]string) []string {
	comments, err := yamlComments(data)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	def := Default()
	for _, k := range Keys() {
		doc := normalize(docs[k.Name])
		m := defaultSentence.FindStringSubmatch(doc)
		if m != nil && m[1] == `""` && k.Field.Type.Kind() == reflect.String {
			m[1] = "" // an empty string is written "" in a comment
		}
		if m == nil {
			out = append(out, fmt.Sprintf("%s: the doc comment does not end with \"Default: X.\"", k.Name))
		} else if v, err := convert(strings.TrimSuffix(strings.TrimPrefix(m[1], `"`), `"`), k.Field.Type); err != nil || !reflect.DeepEqual(v, k.Value(&def)) {
			out = append(out, fmt.Sprintf("%s: the doc comment says Default: %s, Default() has %s", k.Name, m[1], Format(k.Value(&def))))
		}
		comment, ok := comments[k.Name]
		if !ok {
			out = append(out, fmt.Sprintf("%s: not in config.yaml", k.Name))
			continue
		}
		if got := normalize(comment); got != doc {
			out = append(out, fmt.Sprintf("%s: config.yaml's comment differs from the doc comment of %s:\n  config.yaml: %s\n  Go:          %s",
				k.Name, k.Field.Name, got, doc))
		}
	}
	return out
}

// TestDocCommentsMatchConfigYAML: each host key's doc comment in the Go
// source is config.yaml's comment above the key, word for word, and names
// the key's real default. To change a key's documentation, edit both.
func TestDocCommentsMatchConfigYAML(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range docSyncProblems(data, fieldDocs(t)) {
		t.Error(p)
	}
}

// TestDocSyncCatchesDivergence: the check above fails when config.yaml's
// comment, the Go doc comment or the default drifts, or a key is missing.
func TestDocSyncCatchesDivergence(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := fieldDocs(t)
	if p := docSyncProblems(data, docs); len(p) != 0 {
		t.Fatalf("the shipped files are out of step: %v", p)
	}
	yamlEdit := strings.Replace(string(data), "dropped with a message. Bots are exempt.", "dropped. Bots are exempt.", 1)
	if yamlEdit == string(data) {
		t.Fatal("the command_rate comment to edit is not in config.yaml")
	}
	goEdit := map[string]string{}
	for k, v := range docs {
		goEdit[k] = v
	}
	goEdit["server.idle_timeout"] = strings.Replace(docs["server.idle_timeout"], "counts as activity", "is activity", 1)
	badDefault := map[string]string{}
	for k, v := range docs {
		badDefault[k] = v
	}
	badDefault["limits.connections_per_ip"] = strings.Replace(docs["limits.connections_per_ip"], "Default: 32.", "Default: 64.", 1)
	missing := strings.Replace(string(data), "  password_min_length: 8\n", "", 1)
	for _, tc := range []struct {
		name string
		data string
		docs map[string]string
		want string
	}{
		{"config.yaml comment edited", yamlEdit, docs, "limits.command_rate: config.yaml's comment differs"},
		{"Go doc comment edited", string(data), goEdit, "server.idle_timeout: config.yaml's comment differs"},
		{"default drifted", string(data), badDefault, "limits.connections_per_ip: the doc comment says Default: 64, Default() has 32"},
		{"key missing", missing, docs, "limits.password_min_length: not in config.yaml"},
	} {
		got := strings.Join(docSyncProblems([]byte(tc.data), tc.docs), "\n")
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: problems %q, want %q", tc.name, got, tc.want)
		}
	}
}
