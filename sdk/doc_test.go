package sdk_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestEverythingDocumented fails naming every exported identifier of the
// SDK's packages (sdk and every package below it) that has no doc comment:
// the package itself, functions, types, methods, constants and variables
// (a comment on their group counts), struct fields and interface methods.
// The SDK is a public API that third parties build on; `go doc` must
// explain all of it (CoreDNS's and Tailscale's meta-tests do the same).
// Generated code (sdk/portalpb) and testdata are left out.
func TestEverythingDocumented(t *testing.T) {
	var missing []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != "." && (name == "portalpb" || name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		found, err := undocumented(path)
		missing = append(missing, found...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Fatalf("%d exported names without a doc comment:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
}

// undocumented lists the undocumented exported names of the package in
// dir, as "sdk/dir: Name" (none when dir holds no package).
func undocumented(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, nil
	}
	pkg, err := doc.NewFromFiles(fset, files, "github.com/portico-mud/portico/sdk/"+dir)
	if err != nil {
		return nil, err
	}
	where := filepath.ToSlash(filepath.Join("sdk", dir))
	var out []string
	miss := func(name string) { out = append(out, where+": "+name) }
	if strings.TrimSpace(pkg.Doc) == "" {
		miss("package " + pkg.Name)
	}
	values := func(vs []*doc.Value) {
		for _, v := range vs {
			for _, spec := range v.Decl.Specs {
				vs := spec.(*ast.ValueSpec)
				for _, n := range vs.Names {
					if n.IsExported() && v.Doc == "" && vs.Doc == nil && vs.Comment == nil {
						miss(n.Name)
					}
				}
			}
		}
	}
	funcs := func(prefix string, fs []*doc.Func) {
		for _, f := range fs {
			if ast.IsExported(f.Name) && strings.TrimSpace(f.Doc) == "" {
				miss(prefix + f.Name)
			}
		}
	}
	values(pkg.Consts)
	values(pkg.Vars)
	funcs("", pkg.Funcs)
	for _, typ := range pkg.Types {
		if strings.TrimSpace(typ.Doc) == "" {
			miss(typ.Name)
		}
		values(typ.Consts)
		values(typ.Vars)
		funcs("", typ.Funcs)
		funcs(typ.Name+".", typ.Methods)
		for _, spec := range typ.Decl.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok {
				continue
			}
			var fields *ast.FieldList
			switch x := ts.Type.(type) {
			case *ast.StructType:
				fields = x.Fields
			case *ast.InterfaceType:
				fields = x.Methods
			}
			if fields == nil {
				continue
			}
			for _, f := range fields.List {
				// Embedded types are documented where they are declared.
				for _, n := range f.Names {
					if n.IsExported() && f.Doc == nil && f.Comment == nil {
						miss(typ.Name + "." + n.Name)
					}
				}
			}
		}
	}
	return out, nil
}
