package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// The import rules of the design (../shared/DESIGN.md, "Import rules"), so
// that the picture of the layout stays true: what each kind of package may
// not depend on, directly or through another package. Test files are not
// held to them: a plugin's end-to-end test may start the real host.

// modulePath is this module; the rules speak of paths inside it.
const modulePath = "github.com/portico-mud/portico"

// importRule forbids packages that from matches to depend on a package
// that forbidden matches (given the importing package, for rules that
// depend on it, as "no plugin imports another" does).
type importRule struct {
	name      string
	from      func(pkg string) bool
	forbidden func(pkg, dep string) bool
}

// under reports whether pkg is dir (a path inside the module) or below it.
func under(pkg, dir string) bool {
	p := modulePath + "/" + dir
	return pkg == p || strings.HasPrefix(pkg, p+"/")
}

// pluginOf returns the plugin pkg belongs to (plugins/<name>/...), or "".
func pluginOf(pkg string) string {
	rest, ok := strings.CutPrefix(pkg, modulePath+"/plugins/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// isWire reports whether dep is the Link's wire: its generated code, the
// mapping to it, protobuf or gRPC.
func isWire(dep string) bool {
	return under(dep, "sdk/portalpb") || under(dep, "sdk/wire") ||
		dep == "google.golang.org/protobuf" || strings.HasPrefix(dep, "google.golang.org/protobuf/") ||
		dep == "github.com/golang/protobuf" || strings.HasPrefix(dep, "github.com/golang/protobuf/") ||
		dep == "google.golang.org/grpc" || strings.HasPrefix(dep, "google.golang.org/grpc/")
}

var importRules = []importRule{
	{
		name:      "plugins never import core/",
		from:      func(pkg string) bool { return under(pkg, "plugins") },
		forbidden: func(_, dep string) bool { return under(dep, "core") },
	},
	{
		name:      "core/ never imports plugins/",
		from:      func(pkg string) bool { return under(pkg, "core") },
		forbidden: func(_, dep string) bool { return under(dep, "plugins") },
	},
	{
		name:      "sdk/ never imports core/ or cmd/",
		from:      func(pkg string) bool { return under(pkg, "sdk") },
		forbidden: func(_, dep string) bool { return under(dep, "core") || under(dep, "cmd") },
	},
	{
		name: "the game side (core/sessions, core/commands, core/channels) never imports the wire",
		from: func(pkg string) bool {
			return under(pkg, "core/sessions") || under(pkg, "core/commands") || under(pkg, "core/channels")
		},
		forbidden: func(_, dep string) bool { return isWire(dep) },
	},
	{
		name: "no plugin imports another",
		from: func(pkg string) bool { return pluginOf(pkg) != "" },
		forbidden: func(pkg, dep string) bool {
			other := pluginOf(dep)
			return other != "" && other != pluginOf(pkg)
		},
	},
}

// importViolations returns, sorted, one line per rule a package breaks,
// naming the first forbidden dependency and how many more there are (one
// forbidden import usually brings dozens of its own). deps maps each
// package to all the packages it depends on (go list's Deps: direct and
// indirect, sorted).
func importViolations(deps map[string][]string, rules []importRule) []string {
	var out []string
	for pkg, ds := range deps {
		for _, r := range rules {
			if !r.from(pkg) {
				continue
			}
			var bad []string
			for _, d := range ds {
				if r.forbidden(pkg, d) {
					bad = append(bad, d)
				}
			}
			switch {
			case len(bad) == 1:
				out = append(out, fmt.Sprintf("%s: %s imports %s", r.name, pkg, bad[0]))
			case len(bad) > 1:
				out = append(out, fmt.Sprintf("%s: %s imports %s (and %d more)", r.name, pkg, bad[0], len(bad)-1))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestImportRulesCatchBreaks checks the checker on made-up dependency
// graphs: a layout that keeps every rule passes, and each broken rule is
// reported, naming the rule and the import. Without it the real run below
// could pass because the checker sees nothing.
func TestImportRulesCatchBreaks(t *testing.T) {
	m := func(p string) string { return modulePath + "/" + p }
	good := map[string][]string{
		m("core/sessions"):       {m("core/store"), m("sdk/contract")},
		m("core/commands"):       {m("core/sessions"), m("core/channels"), m("sdk/contract")},
		m("core/plugins"):        {m("core/sessions"), m("sdk"), m("sdk/wire"), m("sdk/portalpb"), "google.golang.org/grpc"},
		m("sdk"):                 {m("sdk/contract"), m("sdk/wire"), m("sdk/portalpb"), "google.golang.org/protobuf/proto"},
		m("plugins/telnet"):      {m("sdk"), m("plugins/telnet/codec"), "google.golang.org/grpc"},
		m("plugins/telnet/opts"): {m("plugins/telnet/codec")},
		m("cmd/host"):            {m("core/host"), m("core/plugins")},
	}
	tests := []struct {
		name string
		pkg  string
		dep  string
		want string // the rule reported, "" for none
	}{
		{"a plugin using its own subpackage", m("plugins/telnet"), m("plugins/telnet/codec"), ""},
		{"a plugin importing the host", m("plugins/telnet"), m("core/sessions"), "plugins never import core/"},
		{"a plugin's subpackage importing the host", m("plugins/ssh/keys"), m("core/store"), "plugins never import core/"},
		{"the host importing a plugin", m("core/host"), m("plugins/irc"), "core/ never imports plugins/"},
		{"the SDK importing the host", m("sdk/plugintest"), m("core/config"), "sdk/ never imports core/ or cmd/"},
		{"the SDK importing cmd", m("sdk"), m("cmd/host"), "sdk/ never imports core/ or cmd/"},
		{"sessions importing portalpb", m("core/sessions"), m("sdk/portalpb"), "the game side"},
		{"commands importing the wire mapping", m("core/commands"), m("sdk/wire"), "the game side"},
		{"channels importing protobuf", m("core/channels"), "google.golang.org/protobuf/proto", "the game side"},
		{"sessions importing gRPC", m("core/sessions"), "google.golang.org/grpc", "the game side"},
		{"the link adapter importing the wire", m("core/plugins"), m("sdk/portalpb"), ""},
		{"a plugin importing another", m("plugins/websocket"), m("plugins/telnet/codec"), "no plugin imports another"},
	}
	if v := importViolations(good, importRules); len(v) != 0 {
		t.Fatalf("a layout that keeps the rules is reported: %q", v)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := map[string][]string{}
			for k, v := range good {
				g[k] = slices.Clone(v)
			}
			g[tt.pkg] = append(g[tt.pkg], tt.dep)
			v := importViolations(g, importRules)
			if tt.want == "" {
				if len(v) != 0 {
					t.Fatalf("reported %q, want nothing", v)
				}
				return
			}
			if len(v) != 1 || !strings.HasPrefix(v[0], tt.want) || !strings.HasSuffix(v[0], tt.pkg+" imports "+tt.dep) {
				t.Fatalf("reported %q, want one %q naming %s importing %s", v, tt.want, tt.pkg, tt.dep)
			}
		})
	}
}

// TestImportRules checks the rules on the real module, as go list sees it
// (the non-test dependencies of every package).
func TestImportRules(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", modulePath+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 {
			deps[fields[0]] = fields[1:]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read go list: %v", err)
	}
	// Each rule must apply to some package, or a moved folder would make it
	// pass by checking nothing.
	for _, r := range importRules {
		n := 0
		for pkg := range deps {
			if r.from(pkg) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("rule %q applies to no package of the %d go list gave", r.name, len(deps))
		}
	}
	for _, v := range importViolations(deps, importRules) {
		t.Error(v)
	}
}
