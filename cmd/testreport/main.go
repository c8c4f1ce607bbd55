// Command testreport runs go test for `make test` and ends with a summary
// of every skipped test and why, so that a test skipped on one machine (a
// missing client program, say) is seen rather than mistaken for a pass.
//
//	go run ./cmd/testreport [-go GO] -- "GO-TEST-ARGS" ["GO-TEST-ARGS" ...]
//
// The -- ends testreport's own flags. Each argument after it is one go test
// run, its arguments separated by spaces (for example "-race -timeout 10m
// ./core/..."; "-C dir" first runs it in another module). The runs go one
// after another, each with -json; the output is what go test prints without
// -v: the ok/FAIL line of each package and the whole output of every failed
// test. Every run goes ahead even when one before it failed, so that one
// report shows all failures. The exit status is that of the first run that
// failed, or 0.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
)

func main() {
	goCmd := flag.String("go", "go", "the go command to run")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, `usage: testreport [-go GO] -- "GO-TEST-ARGS" ["GO-TEST-ARGS" ...]`)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	r := newReport(os.Stdout)
	status := 0
	for _, group := range flag.Args() {
		args := strings.Fields(group)
		fmt.Printf("%s test %s\n", *goCmd, strings.Join(args, " "))
		code, err := run(*goCmd, args, r, os.Stderr, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
		}
		if code != 0 && status == 0 {
			status = code
		}
	}
	r.summary(os.Stdout)
	os.Exit(status)
}

// run runs go test -json with args and feeds its events to r. It returns go
// test's exit status; err says why the command could not run or be read.
func run(goCmd string, args []string, r *report, stderr io.Writer, env []string) (int, error) {
	cmd := exec.Command(goCmd, testArgs(args)...)
	cmd.Stderr = stderr
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 1, fmt.Errorf("go test: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("go test: %w", err)
	}
	readErr := r.read(out)
	if readErr != nil {
		// Drain the rest so that go test is not blocked writing to us.
		_, _ = io.Copy(io.Discard, out)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), readErr
	case err != nil:
		return 1, fmt.Errorf("go test: %w", err)
	case readErr != nil:
		return 1, readErr
	}
	return 0, nil
}

// testArgs is go test's command line: -json after -C, which must come first.
func testArgs(args []string) []string {
	head := []string{"test"}
	switch {
	case len(args) >= 2 && args[0] == "-C":
		head, args = append(head, args[:2]...), args[2:]
	case len(args) >= 1 && strings.HasPrefix(args[0], "-C="):
		head, args = append(head, args[0]), args[1:]
	}
	return append(append(head, "-json"), args...)
}

// event is one line of go test -json (see go doc test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// line is one line of a test's output, and which (sub)test wrote it.
type line struct{ test, text string }

// result names one skipped or failed test.
type result struct{ pkg, test, reason string }

// report turns go test's events back into its plain output and keeps the
// skipped and failed tests for the summary.
type report struct {
	out io.Writer
	// pending holds the output of each running top-level test and its
	// subtests (key: package, NUL, top-level name) until the top-level
	// test ends: printed if it failed, dropped if it passed.
	pending map[string][]line
	skipped []result
	failed  []result
}

func newReport(out io.Writer) *report {
	return &report{out: out, pending: map[string][]line{}}
}

// read handles every event of one go test -json stream.
func (r *report) read(stream io.Reader) error {
	sc := bufio.NewScanner(stream)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			// Not an event (go test writes some lines as they are):
			// show it as it is.
			fmt.Fprintln(r.out, sc.Text())
			continue
		}
		r.event(e)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading go test -json: %w", err)
	}
	return nil
}

func (r *report) event(e event) {
	if e.Test == "" {
		r.packageEvent(e)
		return
	}
	key := e.Package + "\x00" + topLevel(e.Test)
	switch e.Action {
	case "output":
		r.pending[key] = append(r.pending[key], line{e.Test, e.Output})
	case "pass":
		r.pending[key] = r.drop(r.pending[key], e.Test)
	case "skip":
		r.skipped = append(r.skipped, result{e.Package, e.Test, skipReason(r.pending[key], e.Test)})
		r.pending[key] = r.drop(r.pending[key], e.Test)
	case "fail":
		r.failed = append(r.failed, result{pkg: e.Package, test: e.Test})
		if e.Test == topLevel(e.Test) {
			r.flush(key)
		}
	}
	if e.Test == topLevel(e.Test) && (e.Action == "pass" || e.Action == "skip") {
		delete(r.pending, key)
	}
}

// packageEvent handles what concerns a whole package: its own output (the
// ok/FAIL line, a panic, a leak report from TestMain) and its end.
func (r *report) packageEvent(e event) {
	switch e.Action {
	case "output", "build-output":
		// go test without -v shows a passing package's ok line only.
		if e.Output != "PASS\n" {
			fmt.Fprint(r.out, e.Output)
		}
	case "fail":
		// Tests cut short (a panic, a timeout) never ended: show all
		// they wrote.
		for key := range r.pending {
			if strings.HasPrefix(key, e.Package+"\x00") {
				r.flush(key)
			}
		}
	}
}

// drop removes the lines test itself wrote (a passed or skipped one).
func (r *report) drop(lines []line, test string) []line {
	kept := lines[:0]
	for _, l := range lines {
		if l.test != test {
			kept = append(kept, l)
		}
	}
	return kept
}

// flush prints a failed test's output, without the === framing lines
// that -json adds and plain go test does not print.
func (r *report) flush(key string) {
	for _, l := range r.pending[key] {
		if !framing(l.text) {
			fmt.Fprint(r.out, l.text)
		}
	}
	delete(r.pending, key)
}

func framing(text string) bool {
	t := strings.TrimLeft(text, " ")
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// logStart matches the first line of a t.Log entry ("    file_test.go:12: ").
var logStart = regexp.MustCompile(`^\s*([\w.-]+\.go:\d+): (.*)$`)

// skipReason is the last thing the skipped test logged: its t.Skip message
// (t.Skip is t.Log and SkipNow), with where it was called.
func skipReason(lines []line, test string) string {
	var entry []string
	where := ""
	for _, l := range lines {
		if l.test != test || framing(l.text) || strings.HasPrefix(strings.TrimSpace(l.text), "--- SKIP") {
			continue
		}
		text := strings.TrimRight(l.text, "\n")
		if m := logStart.FindStringSubmatch(text); m != nil {
			entry, where = []string{m[2]}, m[1]
			continue
		}
		if s := strings.TrimSpace(text); s != "" {
			entry = append(entry, s) // a continuation line of the entry
		}
	}
	if len(entry) == 0 {
		return "(no reason given)"
	}
	reason := strings.Join(entry, " ")
	if where != "" {
		reason += " (" + where + ")"
	}
	return reason
}

func topLevel(test string) string {
	top, _, _ := strings.Cut(test, "/")
	return top
}

// summary lists every skipped test with its reason, then the failed ones.
func (r *report) summary(w io.Writer) {
	fmt.Fprintf(w, "\n== %d skipped tests\n", len(r.skipped))
	for _, s := range r.skipped {
		fmt.Fprintf(w, "skipped: %s %s: %s\n", s.pkg, s.test, s.reason)
	}
	if len(r.failed) > 0 {
		fmt.Fprintf(w, "== %d failed tests\n", len(r.failed))
		for _, f := range r.failed {
			fmt.Fprintf(w, "failed: %s %s\n", f.pkg, f.test)
		}
	}
}
