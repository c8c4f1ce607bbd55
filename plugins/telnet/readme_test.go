package main

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestREADMEDocumentsEverything keeps README.md true: every config key has
// a row in the config table, every option a row in the negotiation table
// with its number, and the names disable_options takes are listed.
func TestREADMEDocumentsEverything(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		key := strings.Split(ct.Field(i).Tag.Get("json"), ",")[0]
		if !strings.Contains(readme, "`"+key+"`") {
			t.Errorf("config key %s is not documented", key)
		}
	}
	for _, o := range optionTable {
		row := fmt.Sprintf("| %s | %d |", strings.ToUpper(o.name), o.code)
		if !strings.Contains(readme, row) {
			t.Errorf("option %s (%d) has no row %q", o.name, o.code, row)
		}
		if !strings.Contains(readme, "`"+o.name+"`") {
			t.Errorf("disable_options name %s is not listed", o.name)
		}
	}
	offers := "Sent on connect, in this order"
	if !strings.Contains(readme, offers) {
		t.Fatal("the connect offers are not documented")
	}
}
