package sdk_test

import (
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/portico-mud/portico/sdk/plugintest"
)

// readme returns sdk/README.md.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadmeGoParses: every Go block of the tutorial is a Go file that
// parses, so that the README cannot show code that is not Go.
func TestReadmeGoParses(t *testing.T) {
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(readme(t), -1)
	if len(blocks) < 3 {
		t.Fatalf("found %d Go blocks in README.md", len(blocks))
	}
	for i, b := range blocks {
		if _, err := parser.ParseFile(token.NewFileSet(), "README.md", b[1], parser.AllErrors); err != nil {
			t.Errorf("Go block %d does not parse: %v\n%s", i+1, err, b[1])
		}
	}
}

// TestReadmeListsEveryCheck: the README's table of conformance checks is
// the kit's list, in order.
func TestReadmeListsEveryCheck(t *testing.T) {
	_, table, ok := strings.Cut(readme(t), "| check | what must happen |\n")
	if !ok {
		t.Fatal("README.md has no table of checks")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	var listed []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Za-z]+)` \\|").FindAllStringSubmatch(table, -1) {
		listed = append(listed, m[1])
	}
	if !slices.Equal(listed, plugintest.Checks()) {
		t.Fatalf("README.md lists checks %v, the kit runs %v", listed, plugintest.Checks())
	}
}
