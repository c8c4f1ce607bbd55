package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/portico-mud/portico/sdk/leakcheck"
	"go.uber.org/goleak"
)

// lumberjack starts one goroutine per rotating file the first time it
// opens it, to remove old files, and never stops it (v2.2.1 has no way
// to): OpenFile's rotation test starts one.
func TestMain(m *testing.M) {
	leakcheck.Main(m, goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"))
}

// records decodes buf's JSON lines.
func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		out = append(out, r)
	}
	return out
}

// TestHandlerLevelFormatAndMasking: the handler writes the format asked
// for, drops what is below the level, and masks every secret-named
// attribute, in groups too.
func TestHandlerLevelFormatAndMasking(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(Options{Level: "warn", Format: "json"}.Handler(&buf))
	l.Info("dropped")
	l.Warn("kept", "password", "hunter2", "csessid", "abc", "resume_token", "t", "name", "bob",
		slog.Group("bot", "sasl_password", "s3", "nick", "b"))
	rs := records(t, &buf)
	if len(rs) != 1 || rs[0]["msg"] != "kept" {
		t.Fatalf("records %v", rs)
	}
	r := rs[0]
	for _, k := range []string{"password", "csessid", "resume_token"} {
		if r[k] != Mask {
			t.Errorf("%s = %v, want masked", k, r[k])
		}
	}
	if r["name"] != "bob" || r["bot"].(map[string]any)["sasl_password"] != Mask || r["bot"].(map[string]any)["nick"] != "b" {
		t.Errorf("record %v", r)
	}
	buf.Reset()
	slog.New(Options{}.Handler(&buf)).Debug("hidden")
	slog.New(Options{}.Handler(&buf)).Info("shown", "token", "x")
	if got := buf.String(); !strings.Contains(got, "level=INFO msg=shown token="+Mask) || strings.Contains(got, "hidden") {
		t.Errorf("text output %q", got)
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel took loud")
	}
	if CheckFormat("xml") == nil || CheckFormat("JSON") != nil {
		t.Error("CheckFormat")
	}
}

// TestHCLogThroughSlog: go-plugin's hclog messages come out of the slog
// handler at the mapped level, named, with their arguments and those of
// With, and excluded messages do not; a standard logger's lines infer
// their level.
func TestHCLogThroughSlog(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(Options{Level: "debug", Format: "json"}.Handler(&buf))
	hl := HCLog(l, "go-plugin", HCLogOptions{Exclude: func(_ hclog.Level, msg string) bool { return msg == "noise" }})
	hl.Named("portico-telnet").With("plugin", "telnet").Error("plugin process exited", "id", 42, 7, "x", "odd")
	hl.Trace("below debug")
	hl.Info("noise")
	hl.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[WARN] from a log.Logger")
	rs := records(t, &buf)
	if len(rs) != 2 {
		t.Fatalf("records %v", rs)
	}
	r := rs[0]
	if r["level"] != "ERROR" || r["msg"] != "plugin process exited" || r["logger"] != "go-plugin.portico-telnet" ||
		r["plugin"] != "telnet" || r["id"] != float64(42) || r["7"] != "x" || r[hclog.MissingKey] != "odd" {
		t.Errorf("record %v", r)
	}
	if rs[1]["level"] != "WARN" || rs[1]["msg"] != "from a log.Logger" {
		t.Errorf("standard logger's record %v", rs[1])
	}
	if !hl.IsDebug() || hl.IsTrace() || hl.GetLevel() != hclog.Debug || hl.Name() != "go-plugin" {
		t.Errorf("levels: debug %v trace %v level %v name %q", hl.IsDebug(), hl.IsTrace(), hl.GetLevel(), hl.Name())
	}
}

// TestOptionsThroughEnvironment: what the host encodes the plugin reads.
func TestOptionsThroughEnvironment(t *testing.T) {
	o := Options{Level: "debug", Format: "json", MaxSizeMB: 3, MaxFiles: 2}
	t.Setenv(EnvOptions, o.Encode())
	if got := FromEnv(); got != o {
		t.Errorf("FromEnv = %+v, want %+v", got, o)
	}
	t.Setenv(EnvOptions, "{not json")
	if got := FromEnv(); got != (Options{}) {
		t.Errorf("FromEnv of garbage = %+v", got)
	}
}

// TestOpenFileRotates: a file with max_size_mb rotates past it and keeps
// max_files old ones; without it the file only grows. Files are 0600.
func TestOpenFileRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "logs", "portico.log")
	w, err := OpenFile(path, Options{MaxSizeMB: 1, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for range 4 * 1024 { // 4 MiB: three rotations
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 3 || len(entries) < 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files %v, want the live one and at most 2 rotated", names)
	}
	for _, e := range entries {
		fi, _ := e.Info()
		if fi.Size() > 1<<20 || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %d bytes, mode %v", e.Name(), fi.Size(), fi.Mode().Perm())
		}
	}
	plain := filepath.Join(dir, "plain.log")
	w, err = OpenFile(plain, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(line)
	w.Close()
	if fi, err := os.Stat(plain); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("plain file: %v %v", fi, err)
	}
	if _, err := OpenFile(filepath.Join(plain, "under-a-file.log"), Options{}); err == nil {
		t.Error("OpenFile under a file: no error")
	}
}
