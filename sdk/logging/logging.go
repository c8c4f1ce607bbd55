// Package logging is the one log format of Portico: the host and every
// plugin log through log/slog with the handler it makes (text or JSON, at a
// level, secrets masked), to a file it rotates by size, and go-plugin's
// hclog output is routed into the same slog logger (HCLog), so that a log
// file holds one format only.
//
// The host reads the options from config.yaml's log block and hands them
// to each plugin it launches in the environment (EnvOptions); sdk.Serve
// reads them there. It must not import core/.
package logging

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/natefinch/lumberjack.v2"
)

// EnvOptions is the environment variable in which the host hands a plugin
// it launches the log options (Options.Encode). A plugin run by hand
// without it logs at info, as text.
const EnvOptions = "PORTICO_PLUGIN_LOG"

// Options say how to log: config.yaml's log block.
type Options struct {
	// Level is debug, info, warn or error; empty is info.
	Level string `json:"level,omitempty"`
	// Format is text or json; empty is text.
	Format string `json:"format,omitempty"`
	// MaxSizeMB rotates a log file when it would grow past this many
	// megabytes; 0 never rotates.
	MaxSizeMB int `json:"max_size_mb,omitempty"`
	// MaxFiles is how many rotated files are kept beside the live one; 0
	// keeps them all.
	MaxFiles int `json:"max_files,omitempty"`
}

// Formats and levels as config.yaml spells them.
const (
	FormatText = "text"
	FormatJSON = "json"
)

var levels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo,
	"warn": slog.LevelWarn, "error": slog.LevelError}

// ParseLevel reads a level as config.yaml spells it (debug, info, warn,
// error, any case); "" is info.
func ParseLevel(s string) (slog.Level, error) {
	if s == "" {
		return slog.LevelInfo, nil
	}
	l, ok := levels[strings.ToLower(strings.TrimSpace(s))]
	if !ok {
		return 0, fmt.Errorf("want debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// CheckFormat reports whether s is a format config.yaml may give.
func CheckFormat(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", FormatText, FormatJSON:
		return nil
	}
	return fmt.Errorf("want text or json, got %q", s)
}

// Encode writes o for EnvOptions.
func (o Options) Encode() string {
	b, _ := json.Marshal(o) // a struct of strings and ints always encodes
	return string(b)
}

// FromEnv reads the options the host put in EnvOptions; without it (a
// plugin run by hand), or when it does not parse, the defaults.
func FromEnv() Options {
	var o Options
	if s := os.Getenv(EnvOptions); s != "" {
		if err := json.Unmarshal([]byte(s), &o); err != nil {
			return Options{}
		}
	}
	return o
}

// Handler returns the slog handler that writes to w in o's format, at o's
// level, with every secret-named attribute masked (see Masked). A level or
// format that does not parse is info or text: Load checked them already.
func (o Options) Handler(w io.Writer) slog.Handler {
	level, err := ParseLevel(o.Level)
	if err != nil {
		level = slog.LevelInfo
	}
	ho := &slog.HandlerOptions{Level: level, ReplaceAttr: maskAttr}
	if strings.EqualFold(strings.TrimSpace(o.Format), FormatJSON) {
		return slog.NewJSONHandler(w, ho)
	}
	return slog.NewTextHandler(w, ho)
}

// Mask is what a masked value is logged as.
const Mask = "********"

// secretKey matches the attribute keys whose values are never logged:
// passwords, tokens, csessids (a webclient's resume token), secrets and
// keys' private halves. A log call that would carry one (a bot's config
// dict, a request's query) logs the mask instead.
var secretKey = regexp.MustCompile(`(?i)(password|passwd|passphrase|secret|token|csessid|credential|private|apikey|api_key)`)

// Masked reports whether an attribute named key has its value masked.
func Masked(key string) bool { return secretKey.MatchString(key) }

func maskAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindGroup && Masked(a.Key) {
		return slog.String(a.Key, Mask)
	}
	return a
}

// OpenFile opens the log file at path (its directory made 0700, the file
// 0600) for appending, rotated by o's MaxSizeMB and MaxFiles when
// MaxSizeMB is set. The file is opened at once, so that a problem with it
// is an error here and not a silent loss later.
func OpenFile(path string, o Options) (io.WriteCloser, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	if o.MaxSizeMB <= 0 {
		return f, nil
	}
	// lumberjack opens the file itself (keeping its mode) on the first
	// write; the check above stays the only place an error shows.
	f.Close()
	return &lumberjack.Logger{Filename: path, MaxSize: o.MaxSizeMB, MaxBackups: o.MaxFiles}, nil
}
