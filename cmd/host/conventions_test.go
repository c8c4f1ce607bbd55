package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The size rules of the host's code (core/), so that no file or function
// grows into the place where a newcomer gets lost (issue 15: manager.go had
// 1112 lines and a 173-line function):
//
//   - No non-test Go file in core/ is over maxFileLines lines. There are no
//     exceptions: a file that grows past it is split by responsibility.
//   - No function or method is over maxFuncLines lines, counted from its
//     "func" to its closing brace, unless its doc comment says why it is
//     not split, in a sentence beginning "Long because" and giving the
//     reason (see below). A comment inside the body does not count: the
//     reason belongs where a reader starts reading.
//
// A long function's doc comment ends, for instance, with
//
//	// Long because one switch over every event kind reads best whole.
//
// Test files are not held to them (a table of cases is long by nature),
// nor are testdata directories (not Go packages).
const (
	maxFileLines = 800
	maxFuncLines = 80
)

// longBecause is the doc comment's reason for a long function: the marker
// and at least three words after it.
var longBecause = regexp.MustCompile(`Long because\s+\S+\s+\S+\s+\S+`)

// sizeViolations returns, sorted, one line per broken size rule in files
// (path → Go source); paths ending in _test.go are left out.
func sizeViolations(files map[string][]byte) ([]string, error) {
	var out []string
	fset := token.NewFileSet()
	for path, src := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		lines := strings.Count(string(src), "\n")
		if len(src) > 0 && src[len(src)-1] != '\n' {
			lines++
		}
		if lines > maxFileLines {
			out = append(out, fmt.Sprintf("%s: %d lines, over %d: split it by responsibility", path, lines, maxFileLines))
		}
		f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
			if n <= maxFuncLines || (fn.Doc != nil && longBecause.MatchString(fn.Doc.Text())) {
				continue
			}
			out = append(out, fmt.Sprintf("%s:%d: %s is %d lines, over %d: split it, or say why not in its doc comment (\"Long because ...\")",
				path, fset.Position(fn.Pos()).Line, funcName(fn), n, maxFuncLines))
		}
	}
	slices.Sort(out)
	return out, nil
}

// funcName is fn's name as a reader looks for it: "Run", "Manager.Start".
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	t := fn.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if g, ok := t.(*ast.IndexExpr); ok { // a method of a generic type
		t = g.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}

// goFunc returns the source of a function name of exactly lines lines
// (lines >= 2), with doc as its doc comment ("" for none) and body, when
// not empty, as its first statement line.
func goFunc(name string, lines int, doc, body string) string {
	var b strings.Builder
	if doc != "" {
		for l := range strings.SplitSeq(doc, "\n") {
			b.WriteString("// " + l + "\n")
		}
	}
	b.WriteString("func " + name + " {\n")
	n := lines - 2
	if body != "" {
		b.WriteString("\t" + body + "\n")
		n--
	}
	for range n {
		b.WriteString("\tprintln()\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// TestSizeRulesCatchBreaks checks the checker on made-up sources: code
// that keeps the rules passes, and each way of breaking them is reported,
// naming the file or function. Without it the real run below could pass
// because the checker sees nothing.
func TestSizeRulesCatchBreaks(t *testing.T) {
	const header = "package p\n\n"
	padded := func(lines int) string { // a file of exactly lines lines
		return header + strings.Repeat("// filler\n", lines-2)
	}
	tests := []struct {
		name string
		path string
		src  string
		want string // the start of the one line reported, "" for none
	}{
		{"a short function", "core/p/a.go", header + goFunc("f()", 10, "", ""), ""},
		{"a function of the limit", "core/p/a.go", header + goFunc("f()", maxFuncLines, "", ""), ""},
		{"a function over the limit", "core/p/a.go", header + goFunc("f()", maxFuncLines+1, "", ""),
			"core/p/a.go:3: f is 81 lines"},
		{"a long function with a doc comment that does not say why", "core/p/a.go",
			header + goFunc("f()", maxFuncLines+1, "f does a great many things.", ""), "core/p/a.go:4: f is 81 lines"},
		{"a long function whose doc comment has the marker but no reason", "core/p/a.go",
			header + goFunc("f()", maxFuncLines+1, "f does things.\n\nLong because", ""), "core/p/a.go:6: f is 81 lines"},
		{"a long function that says why in its doc comment", "core/p/a.go",
			header + goFunc("f()", 120, "f does things.\n\nLong because one switch over every event kind reads best whole.", ""), ""},
		{"a long function that says why only inside its body", "core/p/a.go",
			header + goFunc("f()", maxFuncLines+1, "", "// Long because one switch over every kind reads best whole."),
			"core/p/a.go:3: f is 81 lines"},
		{"a long method", "core/p/a.go", header + "type T struct{}\n\n" + goFunc("(t *T) Run()", 90, "Run runs.", ""),
			"core/p/a.go:6: T.Run is 90 lines"},
		{"a file of the limit", "core/p/a.go", padded(maxFileLines), ""},
		{"a file over the limit", "core/p/a.go", padded(maxFileLines + 1), "core/p/a.go: 801 lines"},
		{"a file over the limit of nothing but comments", "core/p/doc.go", padded(maxFileLines + 200), "core/p/doc.go: 1000 lines"},
		{"a file over the limit without a final newline", "core/p/a.go",
			strings.TrimSuffix(padded(maxFileLines), "\n") + "\n// last", "core/p/a.go: 801 lines"},
		{"a long test file with a long function", "core/p/a_test.go",
			padded(maxFileLines+100) + goFunc("TestF(t *testing.T)", 200, "", ""), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string][]byte{
				tt.path:          []byte(tt.src),
				"core/p/good.go": []byte(header + goFunc("g()", 5, "g is short.", "")),
			}
			v, err := sizeViolations(files)
			if err != nil {
				t.Fatalf("sizeViolations: %v\n%s", err, tt.src)
			}
			if tt.want == "" {
				if len(v) != 0 {
					t.Fatalf("reported %q, want nothing", v)
				}
				return
			}
			if len(v) != 1 || !strings.HasPrefix(v[0], tt.want) {
				t.Fatalf("reported %q, want one line starting %q", v, tt.want)
			}
		})
	}
}

// TestSizeRules checks the rules on every Go file under core/.
func TestSizeRules(t *testing.T) {
	root := filepath.Join("..", "..")
	files := map[string][]byte{}
	err := filepath.WalkDir(filepath.Join(root, "core"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = src
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A moved folder must not make the test pass by checking nothing.
	if len(files) < 20 {
		t.Fatalf("found %d Go files under core/; is the walk looking in the right place?", len(files))
	}
	v, err := sizeViolations(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range v {
		t.Error(line)
	}
}
