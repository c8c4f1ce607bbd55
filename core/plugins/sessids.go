package plugins

import (
	"context"
	"fmt"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// Session ids: the host grants each plugin blocks of ids, and refuses a
// session whose id was not granted to the plugin that names it.

// sessidBlock is how many session ids a plugin is handed at a time.
const sessidBlock = 1024

// grantFirstBlock grants a run of the plugin its first block of session
// ids, and loads the blocks its sessions may use. A fresh process's earlier
// grants went with its sessions; a reattached one keeps them, for the
// sessions it still has.
func (r *runner) grantFirstBlock(ctx context.Context, fresh bool) (uint64, error) {
	start, err := r.m.store.GrantSessids(ctx, r.name, sessidBlock, fresh)
	if err != nil {
		return 0, fmt.Errorf("plugins: %s: reserve session ids: %w", r.name, err)
	}
	grants := []store.SessidRange{{Start: start, Count: sessidBlock}}
	if !fresh {
		if grants, err = r.m.store.SessidGrants(ctx, r.name); err != nil {
			return 0, fmt.Errorf("plugins: %s: %w", r.name, err)
		}
	}
	r.mu.Lock()
	r.grants = grants
	r.mu.Unlock()
	return start, nil
}

// MsgForeignSessid ends, on its plugin, a session whose id the host did not
// grant to that plugin.
const MsgForeignSessid = "This session's id was not given to this service; it cannot be used."

// grantedSessid reports whether session id sessid was granted to the
// plugin. Ids come in sequential blocks, so any plugin could guess the ids
// another will use next, or list another's at a reattach: a session with an
// id not granted to it is refused, logged, and ended on the plugin.
func (r *runner) grantedSessid(sessid uint64, what string) (ok bool) {
	r.mu.Lock()
	for _, g := range r.grants {
		if g.Contains(sessid) {
			r.mu.Unlock()
			return true
		}
	}
	r.mu.Unlock()
	r.log.Warn("refused session id", "sessid", sessid, "in", what, "reason", "not granted to this plugin")
	r.send(&portalpb.Event{Kind: &portalpb.Event_Disconnect{Disconnect: &portalpb.Disconnect{
		Sessid: sessid, Reason: MsgForeignSessid}}})
	return false
}

// grantNextBlock grants the plugin another block of session ids, which it
// asked for (NeedSessids) as it ran low.
func (r *runner) grantNextBlock(ctx context.Context) {
	start, err := r.m.store.GrantSessids(ctx, r.name, sessidBlock, false)
	if err != nil {
		r.log.Error("reserve session ids", "err", err)
		return
	}
	// Recorded before the plugin hears of the block, so that its
	// Connects with the new ids find it.
	r.mu.Lock()
	r.grants = append(r.grants, store.SessidRange{Start: start, Count: sessidBlock})
	r.mu.Unlock()
	r.send(&portalpb.Event{Kind: &portalpb.Event_GrantSessids{GrantSessids: &portalpb.GrantSessids{
		Start: start, Count: sessidBlock}}})
}
