package sdk

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// withPageBytes lowers the plugin's own page bound for one test.
func withPageBytes(t *testing.T, n int) {
	t.Helper()
	old := sessionsPageBytes
	sessionsPageBytes = n
	t.Cleanup(func() { sessionsPageBytes = old })
}

// sessionsWith makes n connected sessions, each with server data of a size
// of its own (so that pages cut at different places) and every third
// logged in.
func sessionsWith(t *testing.T, portal *Portal, n int) []*Session {
	t.Helper()
	out := make([]*Session, n)
	for i := range out {
		s := newSession(t, portal, newFakeConn())
		s.Update(func(d *SessionData) {
			d.ServerData = map[string]any{"note": strings.Repeat("x", 17*i), "i": int64(i)}
			if i%3 == 0 {
				d.LoggedIn, d.UID, d.UName = true, int64(100+i), fmt.Sprintf("P%d", i)
			}
		})
		s.Connect()
		out[i] = s
	}
	return out
}

// rawCall is the host's Sessions call (its bytes kept, as restoreSessions
// makes it); pages, when not nil, gets each answer.
func rawCall(h *harness, pages *[]*portalpb.SessionsResponse) wire.SessionsCall {
	return func(ctx context.Context, req *portalpb.SessionsRequest) (*portalpb.SessionsResponse, error) {
		resp, err := h.client.Sessions(ctx, req, wire.RawSessionsAnswer())
		if err == nil && pages != nil {
			*pages = append(*pages, resp)
		}
		return resp, err
	}
}

// byID reads every session of pages into a map by session id.
func byID(t *testing.T, pages *wire.SessionPages) map[uint64]SessionData {
	t.Helper()
	got := map[uint64]SessionData{}
	if err := pages.Range(func(d SessionData, err error) {
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := got[d.Sessid]; dup {
			t.Errorf("session %d listed twice", d.Sessid)
		}
		got[d.Sessid] = d
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// wholeAnswer asks for the sessions as a host that does not page does.
func wholeAnswer(t *testing.T, h *harness) map[uint64]SessionData {
	t.Helper()
	pages, err := wire.ReadSessionPages(testCtx(t), func(ctx context.Context, req *portalpb.SessionsRequest) (*portalpb.SessionsResponse, error) {
		return h.client.Sessions(ctx, &portalpb.SessionsRequest{}, wire.RawSessionsAnswer())
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return byID(t, pages)
}

// liveSnapshot reports whether the server still holds a snapshot.
func liveSnapshot(s *Server) bool {
	s.snapshots.mu.Lock()
	defer s.snapshots.mu.Unlock()
	return s.snapshots.cur != nil
}

// TestServerSessionsPages: a Sessions answer larger than the plugin's page
// bound comes in several pages, each within the bound (or one session),
// and together they hold exactly what one whole answer holds. The snapshot
// is let go with the last page.
func TestServerSessionsPages(t *testing.T) {
	const n, limit = 40, 600
	h := newHarness(t, newTestPlugin())
	h.configure(t, `{}`, hostInfo(1, 100))
	sessionsWith(t, h.srv.Portal(), n)
	whole := wholeAnswer(t, h)
	if len(whole) != n {
		t.Fatalf("the whole answer holds %d sessions, want %d", len(whole), n)
	}

	withPageBytes(t, limit)
	var answers []*portalpb.SessionsResponse
	// The host asks for its usual pages; the plugin's bound cuts them smaller.
	pages, err := wire.ReadSessionPages(testCtx(t), rawCall(h, &answers), wire.SessionsPageBytes)
	if err != nil {
		t.Fatal(err)
	}
	if pages.Pages() < 5 || len(answers) != pages.Pages() {
		t.Fatalf("%d sessions came in %d pages (%d answers), want several", pages.Len(), pages.Pages(), len(answers))
	}
	for i, resp := range answers {
		if b := len(resp.ProtoReflect().GetUnknown()); b > limit && wire.SessionsIn(resp) > 1 {
			t.Errorf("page %d holds %d sessions in %d bytes, over the bound of %d", i, wire.SessionsIn(resp), b, limit)
		}
		if resp.GetSnapshot() == 0 || resp.GetSnapshot() != answers[0].GetSnapshot() || resp.GetTotal() != n {
			t.Errorf("page %d: snapshot %d total %d, want snapshot %d total %d", i, resp.GetSnapshot(), resp.GetTotal(),
				answers[0].GetSnapshot(), n)
		}
	}
	if got := byID(t, pages); !reflect.DeepEqual(got, whole) {
		t.Errorf("the pages together hold %d sessions, not what the whole answer held (%d)", len(got), len(whole))
	}
	if liveSnapshot(h.srv) {
		t.Error("the snapshot is still held after its last page was served")
	}

	// The host's way and the kit's (generic protobuf) read the same pages.
	generic, err := wire.ReadSessionPages(testCtx(t), func(ctx context.Context, req *portalpb.SessionsRequest) (*portalpb.SessionsResponse, error) {
		return h.client.Sessions(ctx, req)
	}, wire.SessionsPageBytes)
	if err != nil {
		t.Fatal(err)
	}
	if got := byID(t, generic); generic.Pages() != pages.Pages() || !reflect.DeepEqual(got, whole) {
		t.Errorf("read as protobuf: %d sessions in %d pages, want %d in %d", len(got), generic.Pages(), n, pages.Pages())
	}
}

// TestServerSessionsPagesOneSnapshot: sessions that come, go and change
// while a reattaching host pages do not show in the pages: they are the
// list as it was at the first page. What happened after it reaches the
// host as events on the link the host opens after its restore. The next
// first page sees the change.
func TestServerSessionsPagesOneSnapshot(t *testing.T) {
	h := newHarness(t, newTestPlugin())
	h.configure(t, `{}`, hostInfo(1, 100))
	portal := h.srv.Portal()
	ss := sessionsWith(t, portal, 20)
	// A first host takes the sessions' announcements, then goes.
	l1 := h.link(t)
	l1.events(t, len(ss))
	l1.cancel()
	wait(t, h.linkEnded, "the first Link handler's return")
	whole := wholeAnswer(t, h)
	withPageBytes(t, 300)

	first := true
	call := func(ctx context.Context, req *portalpb.SessionsRequest) (*portalpb.SessionsResponse, error) {
		resp, err := h.client.Sessions(ctx, req, wire.RawSessionsAnswer())
		if first {
			// Between the first page and the second: one session leaves,
			// one comes, one changes.
			first = false
			ss[len(ss)-1].Disconnected("gone")
			newSession(t, portal, newFakeConn()).Connect()
			ss[len(ss)-2].Update(func(d *SessionData) { d.UName = "Changed" })
			ss[len(ss)-2].Sync(contract.FieldUName)
		}
		return resp, err
	}
	pages, err := wire.ReadSessionPages(testCtx(t), call, wire.SessionsPageBytes)
	if err != nil {
		t.Fatal(err)
	}
	if pages.Pages() < 2 {
		t.Fatalf("%d pages, want several", pages.Pages())
	}
	if got := byID(t, pages); !reflect.DeepEqual(got, whole) {
		t.Errorf("the pages are not the list at the first page: %d sessions, want %d", len(got), len(whole))
	}
	l2 := h.link(t)
	evs, _ := l2.events(t, 3)
	if got := kinds(evs); !slices.Equal(got, []string{"disconnected", "connect", "sync"}) ||
		evs[0].GetDisconnected().GetSessid() != ss[len(ss)-1].ID() || evs[2].GetSync().GetSession().GetUname() != "Changed" {
		t.Errorf("the changes during the paging came on the next link as %v", evs)
	}
	after := wholeAnswer(t, h)
	if _, ok := after[ss[len(ss)-1].ID()]; ok || len(after) != len(whole) || after[ss[len(ss)-2].ID()].UName != "Changed" {
		t.Errorf("the next answer does not show the change: %d sessions", len(after))
	}
}

// TestServerSessionsSnapshotGone: a page asked of a snapshot the plugin no
// longer holds (replaced by a newer first page, served to its end,
// expired) is refused with a clear NOT_FOUND; a host reading the pages
// then starts again from the first page once, and gives up with an error
// the second time rather than loop.
func TestServerSessionsSnapshotGone(t *testing.T) {
	h := newHarness(t, newTestPlugin())
	h.configure(t, `{}`, hostInfo(1, 100))
	sessionsWith(t, h.srv.Portal(), 20)
	whole := wholeAnswer(t, h)
	withPageBytes(t, 300)
	ctx := testCtx(t)

	_, err := h.client.Sessions(ctx, &portalpb.SessionsRequest{PageBytes: 300, Snapshot: 99, Page: 1})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "snapshot 99 is gone") {
		t.Fatalf("a page of an unknown snapshot: %v", err)
	}

	// Another first page (another host) replaces the snapshot being read,
	// once: the reader starts again and gets the whole list.
	calls, replaced := 0, 0
	replacing := func(times int) wire.SessionsCall {
		return func(ctx context.Context, req *portalpb.SessionsRequest) (*portalpb.SessionsResponse, error) {
			calls++
			if req.GetPage() == 1 && replaced < times {
				replaced++
				if _, err := h.client.Sessions(ctx, &portalpb.SessionsRequest{PageBytes: 300}); err != nil {
					return nil, err
				}
			}
			return h.client.Sessions(ctx, req, wire.RawSessionsAnswer())
		}
	}
	pages, err := wire.ReadSessionPages(ctx, replacing(1), wire.SessionsPageBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !pages.Restarted {
		t.Error("the reader did not say it started again")
	}
	if got := byID(t, pages); !reflect.DeepEqual(got, whole) {
		t.Errorf("after starting again: %d sessions, want %d", len(got), len(whole))
	}

	// Replaced every time: an error after the second try, not a loop.
	calls, replaced = 0, 0
	_, err = wire.ReadSessionPages(ctx, replacing(1000), wire.SessionsPageBytes)
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "is gone") {
		t.Fatalf("a snapshot lost twice: %v", err)
	}
	if calls != 4 {
		t.Errorf("%d calls for a snapshot lost twice, want 4 (two first pages, two refused second pages)", calls)
	}

	// A snapshot no page is asked of for a while is let go.
	old := sessionsSnapshotIdle
	sessionsSnapshotIdle = 20 * time.Millisecond
	t.Cleanup(func() { sessionsSnapshotIdle = old })
	resp, err := h.client.Sessions(ctx, &portalpb.SessionsRequest{PageBytes: 300})
	if err != nil || resp.GetNextPage() != 1 {
		t.Fatalf("first page: next %d, %v", resp.GetNextPage(), err)
	}
	for liveSnapshot(h.srv) {
		select {
		case <-ctx.Done():
			t.Fatal("an idle snapshot was never let go")
		case <-time.After(5 * time.Millisecond):
		}
	}
	_, err = h.client.Sessions(ctx, &portalpb.SessionsRequest{PageBytes: 300, Snapshot: resp.GetSnapshot(), Page: 1})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("a page of an expired snapshot: %v", err)
	}
}

// TestServerSessionsPastMessageBound: with the Link's real gRPC options, a
// plugin whose sessions take more than one message (16 MiB: here 40
// sessions carrying 512 KiB of server data each) cannot answer them whole,
// and answers them in pages of at most half a message, every session's
// data intact.
func TestServerSessionsPastMessageBound(t *testing.T) {
	const n = 40
	h := newHarnessWith(t, newTestPlugin(), wire.ServerOptions(), wire.DialOptions())
	h.configure(t, `{}`, hostInfo(1, 100))
	blob := strings.Repeat("y", 512<<10)
	portal := h.srv.Portal()
	for range n {
		s := newSession(t, portal, newFakeConn())
		s.Update(func(d *SessionData) { d.ServerData = map[string]any{"blob": blob} })
		s.Connect()
	}
	ctx := testCtx(t)
	if _, err := h.client.Sessions(ctx, &portalpb.SessionsRequest{}, wire.RawSessionsAnswer()); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("the whole answer of %d sessions of 512 KiB: %v, want it over the message bound", n, err)
	}
	var answers []*portalpb.SessionsResponse
	pages, err := wire.ReadSessionPages(ctx, rawCall(h, &answers), 0)
	if err != nil {
		t.Fatal(err)
	}
	if pages.Len() != n || pages.Pages() < 3 {
		t.Fatalf("%d sessions in %d pages, want %d in 3 or more", pages.Len(), pages.Pages(), n)
	}
	for i, resp := range answers {
		if size := proto.Size(resp); size > wire.SessionsPageBytes+1024 {
			t.Errorf("page %d is %d bytes, over half the message bound", i, size)
		}
	}
	for id, d := range byID(t, pages) {
		if d.ServerData["blob"] != blob {
			t.Errorf("session %d: server data of %d bytes, want %d", id, len(fmt.Sprint(d.ServerData["blob"])), len(blob))
		}
	}
}
