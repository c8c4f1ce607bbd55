package plugins

import (
	"context"
	"errors"
	"fmt"

	"github.com/portico-mud/portico/sdk/portalpb"
)

// Handing the plugins over for a host reload: the link is closed in two
// steps, and the plugin processes are left running for the next image.

// Detach hands every running plugin over for a host reload. First each
// plugin is asked to stop sending, then announce runs (the restart
// announcement: on each link it follows the request), and each plugin
// confirms (so every event it sent has been received and posted to the
// loop); then afterSync runs (the host pushes every session's data); then
// the host's queued events are flushed and the links closed, leaving the
// plugin processes running for the next image.
//
// The announcement comes after the request so that a plugin confirms at
// once and writes it to its clients while the host pushes the sessions'
// data: sent before, its fan-out to every client held up the
// confirmation, and the whole hand-over waited for it.
func (m *Manager) Detach(ctx context.Context, announce, afterSync func()) error {
	// A remote plugin redials the next image: this one accepts no more.
	m.closePortal()
	m.mu.Lock()
	rs := make([]*runner, 0, len(m.runners))
	for _, r := range m.runners {
		rs = append(rs, r)
	}
	m.mu.Unlock()
	var waits []<-chan struct{}
	var detaching []*runner
	for _, r := range rs {
		if ch := r.beginDetach(); ch != nil {
			waits = append(waits, ch)
			detaching = append(detaching, r)
		}
	}
	announce()
	for i, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("plugins: %s did not detach: %w", detaching[i].name, ctx.Err())
		}
	}
	afterSync()
	for _, r := range detaching {
		r.finishDetach()
	}
	return nil
}

// errDetached ends a run on purpose: the link was handed over for a host
// reload and the plugin process must be left running.
var errDetached = errors.New("plugins: detached for reload")

// beginDetach asks the plugin to stop sending (the reload's first step).
func (r *runner) beginDetach() <-chan struct{} {
	r.mu.Lock()
	running := r.state == StateRunning
	ch := r.detached
	if running {
		r.detaching = true
	}
	ob := r.outbox
	r.mu.Unlock()
	if !running {
		return nil
	}
	_ = ob.Put(&portalpb.Event{Kind: &portalpb.Event_Detach{Detach: &portalpb.Detach{}}})
	return ch
}

// finishDetach flushes the host's side and waits for the link to end.
func (r *runner) finishDetach() {
	r.mu.Lock()
	finish := r.finish
	detaching := r.detaching
	r.mu.Unlock()
	if !detaching || finish == nil {
		return
	}
	finish()
	<-r.done
}

// confirmDetached marks the plugin's Detached as arrived: the reload's
// first step is done for this plugin (beginDetach's channel).
func (r *runner) confirmDetached() {
	r.mu.Lock()
	ch := r.detached
	r.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}
