package logging

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// HCLogOptions shape the hclog.Logger that HCLog makes.
type HCLogOptions struct {
	// Exclude, when set, drops the messages it reports true for (go-plugin
	// messages that would repeat or mislead).
	Exclude func(level hclog.Level, msg string) bool
}

// HCLog returns an hclog.Logger, for go-plugin, that writes every message
// through l: in l's format and at l's level, with name (go-plugin names
// its loggers "plugin.telnet", and sub-loggers after the binary) as the
// attribute "logger". Its SetLevel does nothing: the level is the slog
// handler's, one for the whole process.
func HCLog(l *slog.Logger, name string, o HCLogOptions) hclog.Logger {
	return &hcLogger{l: l, name: name, exclude: o.Exclude}
}

// hcLogger adapts slog to hclog.Logger.
type hcLogger struct {
	l       *slog.Logger
	name    string
	implied []any
	exclude func(hclog.Level, string) bool
}

var _ hclog.Logger = (*hcLogger)(nil)

// slogLevel maps hclog's levels onto slog's; trace is below debug.
func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Log writes one message. hclog's arguments are key/value pairs whose keys
// may be of any type; they become slog attributes with string keys.
func (h *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || (h.exclude != nil && h.exclude(level, msg)) {
		return
	}
	sl := slogLevel(level)
	ctx := context.Background()
	if !h.l.Enabled(ctx, sl) {
		return
	}
	attrs := make([]any, 0, 2+len(h.implied)+len(args))
	if h.name != "" {
		attrs = append(attrs, "logger", h.name)
	}
	attrs = appendPairs(attrs, h.implied)
	attrs = appendPairs(attrs, args)
	h.l.Log(ctx, sl, msg, attrs...)
}

// appendPairs appends hclog's key/value pairs as slog's: keys as strings,
// an odd value out under hclog's own key for it.
func appendPairs(out, args []any) []any {
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			out = append(out, hclog.MissingKey, args[i])
			break
		}
		k, ok := args[i].(string)
		if !ok {
			k = fmt.Sprint(args[i])
		}
		out = append(out, k, args[i+1])
	}
	return out
}

func (h *hcLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hcLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hcLogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hcLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hcLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hcLogger) enabled(level hclog.Level) bool {
	return h.l.Enabled(context.Background(), slogLevel(level))
}

func (h *hcLogger) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hcLogger) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hcLogger) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hcLogger) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hcLogger) IsError() bool { return h.enabled(hclog.Error) }

func (h *hcLogger) ImpliedArgs() []any { return h.implied }

func (h *hcLogger) With(args ...any) hclog.Logger {
	c := *h
	c.implied = append(append([]any(nil), h.implied...), args...)
	return &c
}

func (h *hcLogger) Name() string { return h.name }

func (h *hcLogger) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	return &c
}

func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

// SetLevel does nothing: the process's slog handler has the one level.
func (h *hcLogger) SetLevel(hclog.Level) {}

// GetLevel returns the lowest hclog level the slog handler lets through.
func (h *hcLogger) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Error
}

// StandardLogger returns a log.Logger whose lines are logged at the
// level opts forces (info by default), or the level each line starts
// with ("[WARN] ...") when opts infers levels.
func (h *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

// StandardWriter is StandardLogger's writer.
func (h *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	if opts == nil {
		opts = &hclog.StandardLoggerOptions{}
	}
	return &stdWriter{h: h, opts: *opts}
}

// stdWriter logs each write (a log.Logger's line) as one message.
type stdWriter struct {
	h    *hcLogger
	opts hclog.StandardLoggerOptions
}

func (w *stdWriter) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\r\n")
	level := hclog.Info
	if w.opts.ForceLevel != hclog.NoLevel {
		level = w.opts.ForceLevel
	}
	if w.opts.InferLevels || w.opts.InferLevelsWithTimestamp {
		for _, c := range []struct {
			tag   string
			level hclog.Level
		}{{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
			{"[WARN]", hclog.Warn}, {"[ERROR]", hclog.Error}, {"[ERR]", hclog.Error}} {
			if i := strings.Index(msg, c.tag); i >= 0 && (i == 0 || w.opts.InferLevelsWithTimestamp) {
				level, msg = c.level, strings.TrimSpace(msg[i+len(c.tag):])
				break
			}
		}
	}
	w.h.Log(level, msg)
	return len(p), nil
}
