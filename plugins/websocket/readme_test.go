package main

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// TestReadmeConfigKeys: every config key is documented in README.md's
// table, and the table names no key the plugin does not know.
func TestReadmeConfigKeys(t *testing.T) {
	readme := readReadme(t)
	documented := map[string]bool{}
	row := regexp.MustCompile("(?m)^\\| (`[a-z_]+`(?:, `[a-z_]+`)*) \\|")
	for _, m := range row.FindAllStringSubmatch(section(readme, "## Config"), -1) {
		for _, k := range strings.Split(m[1], ", ") {
			documented[strings.Trim(k, "`")] = true
		}
	}
	known := map[string]bool{}
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		k, _, _ := strings.Cut(ct.Field(i).Tag.Get("json"), ",")
		known[k] = true
		if !documented[k] {
			t.Errorf("config key %s is not in README.md's table", k)
		}
	}
	for k := range documented {
		if !known[k] {
			t.Errorf("README.md documents config key %s, which the plugin does not know", k)
		}
	}
}

// TestReadmeExamples: the wire format examples are what the formats take
// and give.
func TestReadmeExamples(t *testing.T) {
	readme := readReadme(t)
	n := 0
	for _, line := range strings.Split(readme, "\n") {
		var err error
		switch {
		case strings.HasPrefix(line, "→ ["):
			_, err = v1Format{}.Decode(websocket.MessageText, []byte(strings.TrimPrefix(line, "→ ")))
		case strings.HasPrefix(line, "→ TEXT {"):
			_, err = jsonFormat{}.Decode(websocket.MessageText, []byte(strings.TrimPrefix(line, "→ TEXT ")))
		case strings.HasPrefix(line, "→ TEXT "):
			_, err = gmcpFormat{}.Decode(websocket.MessageText, []byte(strings.TrimPrefix(line, "→ TEXT ")))
		case strings.HasPrefix(line, "← ["):
			var v []any
			err = json.Unmarshal([]byte(strings.TrimPrefix(line, "← ")), &v)
			if err == nil && len(v) != 3 {
				t.Errorf("README example %q is not [cmdname, args, kwargs]", line)
			}
		case strings.HasPrefix(line, "← TEXT {"):
			var e map[string]any
			err = json.Unmarshal([]byte(strings.TrimPrefix(line, "← TEXT ")), &e)
			if _, ok := e["proto"]; err == nil && (!ok || len(e) != 3) {
				t.Errorf("README example %q is not an envelope", line)
			}
		default:
			continue
		}
		n++
		if err != nil {
			t.Errorf("README example %q: %v", line, err)
		}
	}
	if n < 15 {
		t.Fatalf("only %d examples checked", n)
	}
}

func readReadme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns the part of md from heading to the next heading of the
// same level.
func section(md, heading string) string {
	i := strings.Index(md, heading)
	if i < 0 {
		return ""
	}
	rest := md[i+len(heading):]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
