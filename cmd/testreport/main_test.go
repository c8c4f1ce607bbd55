package main

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
)

// runFixture runs testdata/fixture's tests through run, as make test does.
func runFixture(t *testing.T, fail bool) (code int, out string, r *report) {
	t.Helper()
	var buf, stderr bytes.Buffer
	r = newReport(&buf)
	env := os.Environ()
	if fail {
		env = append(env, "FIXTURE_FAIL=1")
	}
	code, err := run("go", []string{"-C", "testdata/fixture", "-count=1", "-timeout", "2m", "./..."}, r, &stderr, env)
	if err != nil {
		t.Fatalf("run: %v (stderr %q)", err, stderr.String())
	}
	return code, buf.String(), r
}

func TestReportListsSkipsWithReasons(t *testing.T) {
	code, out, r := runFixture(t, false)
	if code != 0 {
		t.Fatalf("exit status %d, want 0; output:\n%s", code, out)
	}
	var sum bytes.Buffer
	r.summary(&sum)
	want := []string{
		"skipped: fixture TestSkips: needs a thing this machine lacks (fixture_test.go:16)",
		"skipped: fixture TestSubtests/skipped: sub reason second line (fixture_test.go:21)",
		"skipped: fixture TestSkipNow: (no reason given)",
	}
	for _, w := range want {
		if !strings.Contains(sum.String(), w+"\n") {
			t.Errorf("summary lacks %q:\n%s", w, sum.String())
		}
	}
	if !strings.Contains(sum.String(), "== 3 skipped tests") || strings.Contains(sum.String(), "failed") {
		t.Errorf("summary:\n%s", sum.String())
	}
	// Plain go test output: the package's ok line, nothing of passing or
	// skipped tests, none of -json's framing.
	if !strings.Contains(out, "ok  \tfixture\t") {
		t.Errorf("no ok line in:\n%s", out)
	}
	for _, no := range []string{"=== RUN", "chatter", "PASS\n", "--- SKIP"} {
		if strings.Contains(out, no) {
			t.Errorf("output has %q:\n%s", no, out)
		}
	}
}

func TestReportShowsFailures(t *testing.T) {
	code, out, r := runFixture(t, true)
	if code != 1 {
		t.Fatalf("exit status %d, want go test's 1; output:\n%s", code, out)
	}
	for _, w := range []string{"--- FAIL: TestSubtests (", "--- FAIL: TestSubtests/fails (", "the subtest's failure", "FAIL\tfixture\t"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	// The failed test's passing and skipped subtests stay quiet, as in
	// plain go test.
	for _, no := range []string{"=== RUN", "chatter", "sub reason"} {
		if strings.Contains(out, no) {
			t.Errorf("output has %q:\n%s", no, out)
		}
	}
	var failed []string
	for _, f := range r.failed {
		failed = append(failed, f.test)
	}
	if !slices.Equal(failed, []string{"TestSubtests/fails", "TestSubtests"}) {
		t.Errorf("failed tests %v", failed)
	}
	if len(r.skipped) != 3 {
		t.Errorf("skipped %v, want 3 even in a failing run", r.skipped)
	}
}

func TestTestArgsPutsJSONAfterC(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"-race ./core/...", "test -json -race ./core/..."},
		{"-C examples/x -race ./...", "test -C examples/x -json -race ./..."},
		{"-C=examples/x ./...", "test -C=examples/x -json ./..."},
	} {
		if got := strings.Join(testArgs(strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("testArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
