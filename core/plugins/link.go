package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/protobuf/proto"
)

// This file is the host's link adapter, as sdk/portal.go is the plugin's:
// it turns the session handler's Go events (sessions.Event) into Link
// events (Send), and a plugin's Link events into calls on the handler
// (handleFrame), so that core/sessions never imports the wire.

// Send encodes ev and queues it for the named plugin's link. Events for a
// plugin that is not running are dropped: its sessions are gone. It encodes
// before it returns, on the caller's goroutine (the handler's), so the
// handler may reuse what ev refers to afterwards.
func (m *Manager) Send(plugin string, ev sessions.Event) {
	m.mu.Lock()
	r := m.runners[plugin]
	m.mu.Unlock()
	if r == nil {
		return
	}
	if sa, ok := ev.(sessions.SyncAll); ok {
		for _, pe := range encodeSyncAllParts(r.log, sa, syncPartBytes) {
			size := proto.Size(pe)
			m.meter().LinkEvents(plugin, DirectionOut, 1, size)
			r.sendSized(pe, size)
		}
		return
	}
	var pe *portalpb.Event
	size := 0
	if out, ok := ev.(sessions.DataOut); ok {
		// Output, most of the traffic, goes as a data frame when it can;
		// otherwise it is sized already for the link's limit: sizing
		// walks the whole event.
		if r.sendData(out) {
			return
		}
		pe, size = encodeDataOut(r.log, out)
	} else if pe = encodeEvent(r.log, ev); pe != nil {
		size = proto.Size(pe)
	}
	if pe != nil {
		m.meter().LinkEvents(plugin, DirectionOut, 1, size)
		r.sendSized(pe, size)
	}
}

// encodeEvent returns ev as a Link event, or nil (logged) when it cannot
// be encoded and must not be sent. A whole-plugin sync, which may take
// several events, is Send's own (encodeSyncAllParts).
func encodeEvent(log *slog.Logger, ev sessions.Event) *portalpb.Event {
	switch e := ev.(type) {
	case sessions.DataOut:
		pe, _ := encodeDataOut(log, e)
		return pe
	case sessions.Login:
		return &portalpb.Event{Kind: &portalpb.Event_Login{Login: &portalpb.Login{
			Sessid: e.Sessid, Uid: e.UID, Uname: e.UName, Puid: e.PUID}}}
	case sessions.SessionSync:
		pd, err := wire.SessionToPB(e.Session)
		if err != nil {
			log.Error("sync", "sessid", e.Session.Sessid, "err", err)
			return nil
		}
		return &portalpb.Event{Kind: &portalpb.Event_Sync{Sync: &portalpb.SessionSync{
			Session: pd, Fields: e.Fields}}}
	case sessions.Disconnect:
		return &portalpb.Event{Kind: &portalpb.Event_Disconnect{Disconnect: &portalpb.Disconnect{
			Sessid: e.Sessid, Reason: e.Reason}}}
	case sessions.DisconnectAll:
		return &portalpb.Event{Kind: &portalpb.Event_DisconnectAll{DisconnectAll: &portalpb.DisconnectAll{
			Reason: e.Reason}}}
	default:
		// The set is closed (sessions.Event's method is unexported), so this
		// is a new event type without its line here.
		log.Error("link: no encoding for event", "type", fmt.Sprintf("%T", ev))
		return nil
	}
}

// encodeDataOut encodes output, with its size, unless it is too large for the link: one
// oversized message must not break the link for every session of the
// plugin (Evennia's #1636), so the recipients are told instead.
func encodeDataOut(log *slog.Logger, e sessions.DataOut) (*portalpb.Event, int) {
	pms, err := wire.MessagesToPB(e.Messages)
	if err != nil {
		log.Error("data out", "sessions", len(e.Sessids), "err", err)
		return nil, 0
	}
	ev := &portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{
		Sessids: e.Sessids, Messages: pms}}}
	n := proto.Size(ev)
	if n > wire.MaxEventBytes {
		log.Error("output too large for the link; dropped", "bytes", n,
			"limit", wire.MaxEventBytes, "sessions", len(e.Sessids))
		note, _ := wire.MessagesToPB([]contract.Message{contract.Text(sessions.MsgOutputTooLarge)})
		ev = &portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{
			Sessids: e.Sessids, Messages: note}}}
		n = proto.Size(ev)
	}
	return ev, n
}

// syncPartBytes is the size of the sessions a whole-plugin sync carries
// in one event before it is sent in parts (encodeSyncAllParts): well
// under wire.MaxEventBytes, past which the sync would be refused whole. A
// reload's sync passes it at some fifty thousand sessions of one plugin
// (84 bytes each), far sooner where the game keeps server data on them.
const syncPartBytes = wire.MaxEventBytes / 2

// encodeSyncAllParts encodes a whole-plugin sync as encodeSyncAll does,
// in one event when its sessions take at most limit bytes. A larger one
// goes in parts every plugin already understands: syncs of the sessions
// that are not clean, each within limit, then, for a clean sync, one
// clean sync listing every session by its id alone (only the sessid field
// loaded), which makes the plugin drop the sessions none of them listed.
func encodeSyncAllParts(log *slog.Logger, e sessions.SyncAll, limit int) []*portalpb.Event {
	whole := encodeSyncAll(log, e)
	switch {
	case whole == nil:
		return nil
	case len(whole.GetSyncAll().ProtoReflect().GetUnknown()) <= limit:
		return []*portalpb.Event{whole}
	}
	var parts []*portalpb.Event
	var list, ids wire.SessionList
	flush := func() {
		sa := &portalpb.SyncAll{Fields: e.Fields}
		sa.ProtoReflect().SetUnknown(list.Bytes())
		parts = append(parts, &portalpb.Event{Kind: &portalpb.Event_SyncAll{SyncAll: sa}})
		list = wire.SessionList{}
	}
	for i := range e.Sessions {
		d := &e.Sessions[i]
		if list.Append(d) != nil {
			continue // logged by encodeSyncAll; left out of the clean list too
		}
		_ = ids.Append(&contract.SessionData{Sessid: d.Sessid})
		if len(list.Bytes()) >= limit {
			flush()
		}
	}
	if list.Len() > 0 {
		flush()
	}
	if e.Clean {
		sa := &portalpb.SyncAll{Clean: true, Fields: []string{contract.FieldSessid}}
		sa.ProtoReflect().SetUnknown(ids.Bytes())
		parts = append(parts, &portalpb.Event{Kind: &portalpb.Event_SyncAll{SyncAll: sa}})
	}
	log.Info("sync sent in parts", "sessions", ids.Len(), "parts", len(parts))
	return parts
}

// encodeSyncAll encodes a whole-plugin sync. A session whose data does not
// encode is left out (logged); when none does, nothing is sent, since a
// clean sync of no sessions would drop every session of the plugin.
//
// The sessions are encoded by hand (wire.SessionList: a reload pushes
// every session at once) and carried as the message's unknown fields, which
// marshal as they are: the plugin reads them as SyncAll.sessions.
func encodeSyncAll(log *slog.Logger, e sessions.SyncAll) *portalpb.Event {
	var list wire.SessionList
	for i := range e.Sessions {
		if err := list.Append(&e.Sessions[i]); err != nil {
			log.Error("sync", "sessid", e.Sessions[i].Sessid, "err", err)
		}
		if list.Len() == 1 {
			list.Reserve(len(e.Sessions) - i - 1)
		}
	}
	if list.Len() == 0 && len(e.Sessions) > 0 {
		return nil
	}
	sa := &portalpb.SyncAll{Clean: e.Clean, Fields: e.Fields}
	sa.ProtoReflect().SetUnknown(list.Bytes())
	return &portalpb.Event{Kind: &portalpb.Event_SyncAll{SyncAll: sa}}
}

// send queues an event for the plugin's current run. Events queued before
// the link opens (the sessions a reattach restores greet their players)
// go out as soon as it does; events for a plugin that is not running are
// dropped, since its sessions are gone.
func (r *runner) send(ev *portalpb.Event) { r.sendSized(ev, proto.Size(ev)) }

// sendData sends output as a data frame, and reports whether it did: not
// when its messages are not plain, when the plugin's link does not know
// data frames or is not open, or when it is over the link's limit (send
// then tells its players, encodeDataOut).
func (r *runner) sendData(out sessions.DataOut) bool {
	r.mu.Lock()
	ob, accepting := r.outbox, r.accepting
	r.mu.Unlock()
	if !accepting {
		return false
	}
	n, err := ob.PutData(wire.DataEvent{Out: true, Sessids: out.Sessids, Messages: out.Messages})
	if err != nil {
		return false
	}
	r.m.meter().LinkEvents(r.name, DirectionOut, 1, n)
	return true
}

// sendSized is send for an event whose encoded size is known.
func (r *runner) sendSized(ev *portalpb.Event, size int) {
	r.mu.Lock()
	ob, accepting := r.outbox, r.accepting
	r.mu.Unlock()
	if !accepting || ob.PutSized(ev, size) != nil {
		r.m.meter().OutboxDropped(r.name, 1)
	}
}

// handleFrame converts a frame, then runs it on the link's reader (the
// caller) while it holds the game's ownership, as one batch: a command
// costs no hand-off to the handler's loop.
func (r *runner) handleFrame(ctx context.Context, f *portalpb.Frame) {
	r.handleEvents(ctx, f.GetEvents(), proto.Size(f))
}

// handleEvents is handleFrame for events whose size in bytes the caller
// knows (sizing them again walks every event).
func (r *runner) handleEvents(ctx context.Context, evs []*portalpb.Event, size int) {
	b := r.newBatch(len(evs))
	for _, ev := range evs {
		b.add(ctx, ev)
	}
	b.run(size)
}

// batch gathers what a read of the plugin's events does to the handler, in
// order, to run in one hold of the game's ownership (run).
type batch struct {
	r      *runner
	ops    []func()
	seq    uint64 // the highest input seq seen
	events int
}

func (r *runner) newBatch(n int) *batch {
	return &batch{r: r, ops: make([]func(), 0, n)}
}

// add takes one event. A Detached runs what came before it first, then
// confirms the plugin's side of a reload: the reload's next steps come
// after everything the plugin sent before it.
func (b *batch) add(ctx context.Context, ev *portalpb.Event) {
	b.events++
	if _, ok := ev.Kind.(*portalpb.Event_Detached); ok {
		b.r.run(b.ops, b.seq)
		b.ops = b.ops[:0:0]
		b.r.confirmDetached()
		return
	}
	if in := ev.GetDataIn(); in != nil {
		b.seq = max(b.seq, in.GetSeq())
	}
	if op := b.r.decodeEvent(ctx, ev); op != nil {
		b.ops = append(b.ops, op)
	}
}

// addData takes one entry of a data frame: input (output from a plugin is
// a broken link).
func (b *batch) addData(ev wire.DataEvent) error {
	if ev.Out {
		return errors.New("data link: output from the plugin")
	}
	b.events++
	b.seq = max(b.seq, ev.Seq)
	if op := b.r.dataIn(ev.Sessid, ev.Seq, ev.Messages); op != nil {
		b.ops = append(b.ops, op)
	}
	return nil
}

// run runs what the batch gathered; size is the bytes its events took on
// the link, for the link's figures.
func (b *batch) run(size int) {
	if b.events == 0 {
		return
	}
	b.r.m.meter().LinkEvents(b.r.name, DirectionIn, b.events, size)
	b.r.run(b.ops, b.seq)
	b.ops, b.events = b.ops[:0], 0
}

// run runs ops in order, holding the game's ownership (Exec). Input up to
// seq (0: none numbered) is first recorded in the run's receipt: it must
// outlive this host before it runs (receipt.go). Once the handler's loop
// has ended (the host is stopping or re-executing) nothing runs: the
// events are dropped, as they were when the loop took them, and the
// plugin, which keeps input until it is acknowledged, tells the players.
func (r *runner) run(ops []func(), seq uint64) {
	if len(ops) == 0 {
		return
	}
	if seq > 0 && r.receipt != nil {
		r.receipt.record(seq)
	}
	if !r.m.handler.Exec(func() {
		defer r.corkReplies(len(ops))()
		for _, op := range ops {
			op()
		}
	}) {
		r.log.Debug("events after the handler stopped; dropped", "events", len(ops))
	}
}

// decodeEvent returns what event ev from the plugin does to the handler
// (run holding the game's ownership), or nil when there is nothing to do
// there: ev was bad (logged), or is the link's own business (a request for
// session ids). Numbered input is followed for its acknowledgement
// (acks.go); bad numbered input counts as finished at once, since it will
// never run.
func (r *runner) decodeEvent(ctx context.Context, ev *portalpb.Event) func() {
	h := r.m.handler
	switch k := ev.Kind.(type) {
	case *portalpb.Event_Connect:
		return r.decodeConnect(k.Connect)
	case *portalpb.Event_DataIn:
		id, seq, msgs, err := wire.DataInFromPB(k.DataIn)
		if err != nil {
			r.log.Warn("bad data in", "sessid", id, "err", err)
			msgs = nil
		}
		return r.dataIn(id, seq, msgs)
	case *portalpb.Event_Sync:
		d, err := wire.SessionFromPB(k.Sync.GetSession())
		if err != nil {
			r.log.Warn("bad sync", "err", err)
			return nil
		}
		fields := k.Sync.GetFields()
		return func() { h.PortalSessionSync(r.name, d, fields) }
	case *portalpb.Event_Disconnected:
		id, reason := k.Disconnected.GetSessid(), k.Disconnected.GetReason()
		return func() { h.PortalDisconnect(r.name, id, reason) }
	case *portalpb.Event_NeedSessids:
		r.grantNextBlock(ctx)
		return nil
	case *portalpb.Event_KeyCheck:
		r.checkKey(ctx, k.KeyCheck)
		return nil
	case *portalpb.Event_Figures:
		r.figures.report(k.Figures)
		return nil
	default:
		r.log.Warn("unexpected event from plugin", "event", fmt.Sprintf("%T", ev.Kind))
		return nil
	}
}

// dataIn returns what input msgs of session id (numbered seq, 0: not
// numbered) does to the handler; msgs nil is input that was bad (logged),
// which only counts as finished.
func (r *runner) dataIn(id, seq uint64, msgs []contract.Message) func() {
	h := r.m.handler
	acks := r.acks
	if seq == 0 || acks == nil {
		if msgs == nil {
			return nil
		}
		return func() { h.DataIn(r.name, id, msgs) }
	}
	return func() {
		if !acks.run(seq, func(finished func()) {
			if msgs == nil {
				finished()
				return
			}
			h.DataInThen(r.name, id, msgs, finished)
		}) && msgs != nil {
			h.DataIn(r.name, id, msgs)
		}
	}
}

// decodeConnect returns a new session's connect for the loop, with the
// login credentials it brings, or nil when its data is bad or its id was
// not granted to this plugin. A key login counts as proven only when the
// plugin is trusted for key logins (trust_key_logins).
func (r *runner) decodeConnect(c *portalpb.Connect) func() {
	h := r.m.handler
	d, err := wire.SessionFromPB(c.GetSession())
	if err != nil {
		r.log.Warn("bad connect", "err", err)
		return nil
	}
	if !r.grantedSessid(d.Sessid, "connect") {
		return nil
	}
	if cr := c.GetCredentials(); cr != nil {
		creds := sessions.Credentials{Name: cr.GetName(), Password: cr.GetPassword(), PublicKey: cr.GetPublicKey(),
			KeyTrusted: r.trustKeys.Load()}
		return func() { h.PortalConnectWithCredentials(r.name, d, creds) }
	}
	return func() { h.PortalConnect(r.name, d) }
}
