package plugintest

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
)

// LockedBuffer is a bytes.Buffer safe for concurrent writers: a plugin's
// goroutines log into it, or a child process's output is copied into it,
// while the test reads it.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what has been written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// InProcess is a plugin configured in the test's own process on a test
// portal (sdk.NewTestPortal), for unit tests that drive a plugin without a
// host: what a host would receive is in Rec.
type InProcess struct {
	// Portal is the test portal the plugin was configured with.
	Portal *sdk.Portal
	// Info is what the plugin's Configure answered.
	Info sdk.Info
	// Rec has what the plugin sent the host.
	Rec *Recorder
	// Logs has the plugin's log, at debug level.
	Logs *LockedBuffer
}

// StartInProcess configures p with cfg on a new test portal whose log goes
// to logs (a new buffer when nil), printed when the test fails, and
// records what p sends the host (Record, each wait bounded by timeout).
// When the test ends it does what the SDK does when the host shuts a
// plugin down: it ends every session, then calls p.Shutdown within
// timeout. A cleanup the caller registered before the call (one that
// reads logs, say) runs after that shutdown.
func StartInProcess(t testing.TB, p sdk.Plugin, cfg sdk.Config, logs *LockedBuffer, timeout time.Duration) *InProcess {
	t.Helper()
	if logs == nil {
		logs = &LockedBuffer{}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("plugin log:\n%s", logs.String())
		}
	})
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ip := &InProcess{Portal: sdk.NewTestPortal(log), Logs: logs}
	info, err := p.Configure(context.Background(), cfg, ip.Portal)
	if err != nil {
		t.Fatal(err)
	}
	ip.Info = info
	var stop func()
	ip.Rec, stop = Record(t, ip.Portal, timeout)
	t.Cleanup(func() {
		ip.Portal.DisconnectAll("test over")
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		stop()
	})
	return ip
}
