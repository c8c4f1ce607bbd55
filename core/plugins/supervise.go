package plugins

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
)

// Supervision: each plugin runs under its runner's supervise loop, which
// restarts a plugin that died with backoff until it crash-loops, and
// stops it politely when the host stops.

// Supervision policy.
const (
	backoffMin = 500 * time.Millisecond
	backoffMax = 30 * time.Second
	// stableAfter resets the backoff: a plugin that ran this long was not
	// crash-looping.
	stableAfter = time.Minute
	// shutdownWait bounds a plugin's Shutdown call.
	shutdownWait = 5 * time.Second
)

// Crash-loop policy: this many deaths within the window mark the plugin
// failed instead of restarting it forever.
const (
	crashLoopLimit  = 5
	crashLoopWindow = 2 * time.Minute
)

// stop shuts the plugin down politely, then ends its supervision and waits.
func (r *runner) stop(reason string) {
	r.mu.Lock()
	r.stopping = true
	client := r.client
	running := r.state == StateRunning
	r.mu.Unlock()
	if running && client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
		if _, err := client.Shutdown(ctx, &portalpb.ShutdownRequest{Reason: reason}); err != nil {
			r.log.Warn("plugin shutdown", "err", err)
		}
		cancel()
	}
	r.cancel()
	if r.remote {
		// Shut down or not, the edge's connection ends with the host's
		// side of it.
		r.dropEdgeQuietly()
	}
	<-r.done
}

// supervise runs the plugin until ctx ends, restarting it with backoff
// when it dies, until it crash-loops.
func (r *runner) supervise(ctx context.Context) {
	defer close(r.done)
	backoff := backoffMin
	for {
		start := time.Now()
		err := r.runOnce(ctx)
		r.mu.Lock()
		r.client = nil
		stopping := r.stopping
		r.mu.Unlock()
		if errors.Is(err, errDetached) {
			r.setState(StateDetached)
			r.log.Info("plugin handed over for reload")
			return
		}
		r.mu.Lock()
		r.pid = 0
		r.mu.Unlock()
		// Whatever sessions the plugin had are gone with it.
		reason := fmt.Sprintf("The %s service stopped.", r.name)
		r.m.handler.Do(func() { r.m.handler.PortalDisconnectAll(r.name, reason) })
		if ctx.Err() != nil || stopping {
			r.setState(StateStopped)
			r.log.Info("plugin stopped")
			return
		}
		looping, again := r.recordDeath(err)
		// A plugin that dies the same way at every start is reported once
		// (the first time, with its error); go-plugin's own lines about
		// each exit are quiet from then on (pluginLogger).
		r.quietRepeat.Store(true)
		r.settle()
		if time.Since(start) > stableAfter {
			backoff = backoffMin
		}
		switch {
		case looping && again:
			r.log.Error("plugin keeps dying the same way; not restarting it (the error is above, and in `portico status`)",
				"deaths", len(r.crashes), "window", crashLoopWindow)
			return
		case looping:
			r.log.Error("plugin keeps dying; not restarting it", "err", err, "deaths", len(r.crashes), "window", crashLoopWindow)
			return
		case again:
			r.log.Warn("plugin died again the same way; restarting", "deaths", len(r.crashes), "in", backoff)
		default:
			r.log.Error("plugin died; restarting", "err", err, "in", backoff)
		}
		select {
		case <-ctx.Done():
			r.setState(StateStopped)
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, backoffMax)
	}
}

// recordDeath counts a run that ended with err against the crash-loop
// limit and shows it in status: failed when the plugin crash-loops,
// unresponsive (until it runs again, so that `portico status` says why it
// is being restarted) or restarting. It reports whether the plugin
// crash-loops, and whether it died the same way as the last time.
func (r *runner) recordDeath(err error) (looping, again bool) {
	now := time.Now()
	failure := numbers.ReplaceAllString(err.Error(), "#")
	r.mu.Lock()
	defer r.mu.Unlock()
	again = failure == r.lastFailure
	r.lastFailure = failure
	r.listeners = nil
	r.lastErr, r.lastErrAt = err.Error(), now
	r.restarts++
	r.crashes = append(r.crashes, now)
	for len(r.crashes) > 0 && now.Sub(r.crashes[0]) > crashLoopWindow {
		r.crashes = r.crashes[1:]
	}
	looping = len(r.crashes) >= crashLoopLimit
	switch {
	case looping:
		r.state = StateFailed
		r.lastErr = fmt.Sprintf("crash loop: %d deaths in %s; last: %v", len(r.crashes), crashLoopWindow, err)
	case errors.Is(err, errUnresponsive):
		r.state = StateUnresponsive
	default:
		r.state = StateBackoff
	}
	return looping, again
}

// numbers blanks pids and counts when two failures are compared.
var numbers = regexp.MustCompile(`[0-9]+`)
