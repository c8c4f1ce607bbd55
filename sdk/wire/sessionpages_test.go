package wire

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// encodedList encodes sessions 1..n, session i with i*10 bytes of server
// data, and returns the list and each entry's size.
func encodedList(t *testing.T, n int) (*SessionList, []int) {
	t.Helper()
	var list SessionList
	sizes := make([]int, n)
	for i := range n {
		d := contract.SessionData{Sessid: uint64(i + 1), ProtocolKey: "telnet"}
		d.SetServerData("note", strings.Repeat("z", 10*i))
		before := len(list.Bytes())
		if err := list.Append(&d); err != nil {
			t.Fatal(err)
		}
		sizes[i] = len(list.Bytes()) - before
	}
	return &list, sizes
}

// TestSessionPageEnds: pages end at entry boundaries, each within the
// limit unless it is one session larger than the limit; together they are
// the whole list; an empty list is one empty page.
func TestSessionPageEnds(t *testing.T) {
	list, sizes := encodedList(t, 30)
	b := list.Bytes()
	for _, limit := range []int{1, 50, 200, 1000, len(b) - 1, len(b), 1 << 30} {
		ends, err := SessionPageEnds(b, limit)
		if err != nil {
			t.Fatal(err)
		}
		if ends[len(ends)-1] != len(b) {
			t.Fatalf("limit %d: the pages end at %d, not the list's end %d", limit, ends[len(ends)-1], len(b))
		}
		start, entry, at := 0, 0, 0
		for p, end := range ends {
			n := 0
			for at < end {
				at += sizes[entry]
				entry++
				n++
			}
			if at != end {
				t.Fatalf("limit %d: page %d ends at %d, inside an entry", limit, p, end)
			}
			if n == 0 || (end-start > limit && n > 1) {
				t.Fatalf("limit %d: page %d holds %d sessions in %d bytes", limit, p, n, end-start)
			}
			// A page is not cut short: the next session did not fit.
			if p+1 < len(ends) && end-start+sizes[entry] <= limit {
				t.Fatalf("limit %d: page %d ends before a session that fits", limit, p)
			}
			start = end
		}
		if limit == 1 && len(ends) != 30 || limit >= len(b) && len(ends) != 1 {
			t.Fatalf("limit %d: %d pages", limit, len(ends))
		}
	}
	if ends, err := SessionPageEnds(nil, 100); err != nil || !slices.Equal(ends, []int{0}) {
		t.Fatalf("an empty list: %v, %v", ends, err)
	}
	if _, err := SessionPageEnds(b[:len(b)-1], 100); err == nil {
		t.Fatal("a truncated list was split")
	}
}

// TestRawSessionsAnswerKeepsPaging: the host's codec keeps a page's
// sessions as bytes and reads its paging fields, whether the sessions come
// after the fields in one run (a slice of the answer, not a copy) or mixed
// among them (another encoder's order).
func TestRawSessionsAnswerKeepsPaging(t *testing.T) {
	list, _ := encodedList(t, 5)
	page := &portalpb.SessionsResponse{Snapshot: 7, NextPage: 3, Total: 12}
	page.ProtoReflect().SetUnknown(list.Bytes())
	inOrder, err := proto.Marshal(page)
	if err != nil {
		t.Fatal(err)
	}
	// The same fields with the sessions split around them.
	fields, err := proto.Marshal(&portalpb.SessionsResponse{Snapshot: 7, NextPage: 3, Total: 12})
	if err != nil {
		t.Fatal(err)
	}
	ends, err := SessionPageEnds(list.Bytes(), 1)
	if err != nil {
		t.Fatal(err)
	}
	mixed := slices.Concat(list.Bytes()[:ends[1]], fields, list.Bytes()[ends[1]:])
	codec := rawSessionsCodec{encoding.GetCodecV2(protoCodecName)}
	for name, b := range map[string][]byte{"in order": inOrder, "mixed": mixed} {
		var resp portalpb.SessionsResponse
		if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &resp); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if resp.GetSnapshot() != 7 || resp.GetNextPage() != 3 || resp.GetTotal() != 12 {
			t.Errorf("%s: snapshot %d next %d total %d", name, resp.GetSnapshot(), resp.GetNextPage(), resp.GetTotal())
		}
		if len(resp.GetSessions()) != 0 || !bytes.Equal(resp.ProtoReflect().GetUnknown(), list.Bytes()) {
			t.Errorf("%s: the sessions were not kept as their bytes", name)
		}
	}
	var bad portalpb.SessionsResponse
	if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(inOrder[:len(inOrder)-1])}, &bad); err == nil {
		t.Error("a truncated answer was read")
	}
}

// fakePages answers Sessions as a plugin might: pages of list at limit
// bytes from snapshot 5, with change applied to each answer.
type fakePages struct {
	list   *SessionList
	ends   []int
	calls  int
	change func(req *portalpb.SessionsRequest, resp *portalpb.SessionsResponse) error
}

func newFakePages(t *testing.T, n, limit int) *fakePages {
	t.Helper()
	list, _ := encodedList(t, n)
	ends, err := SessionPageEnds(list.Bytes(), limit)
	if err != nil {
		t.Fatal(err)
	}
	return &fakePages{list: list, ends: ends}
}

func (f *fakePages) call(_ context.Context, req *portalpb.SessionsRequest) (*portalpb.SessionsResponse, error) {
	f.calls++
	i := int(req.GetPage())
	resp := &portalpb.SessionsResponse{Snapshot: 5, Total: uint64(f.list.Len())}
	if i >= len(f.ends) {
		i = len(f.ends) - 1
	}
	start := 0
	if i > 0 {
		start = f.ends[i-1]
	}
	if i+1 < len(f.ends) {
		resp.NextPage = uint32(i + 1)
	}
	resp.ProtoReflect().SetUnknown(f.list.Bytes()[start:f.ends[i]])
	if f.change != nil {
		return resp, f.change(req, resp)
	}
	return resp, nil
}

// onPage is a fakePages change that applies f to the answer of page (of
// every page when page is negative).
func onPage(page int, f func(resp *portalpb.SessionsResponse)) func(*portalpb.SessionsRequest, *portalpb.SessionsResponse) error {
	return func(req *portalpb.SessionsRequest, resp *portalpb.SessionsResponse) error {
		if page < 0 || int(req.GetPage()) == page {
			f(resp)
		}
		return nil
	}
}

// TestReadSessionPagesBounds: what a host accepts of a plugin's pages is
// bounded and checked; a plugin that pages without end, sends empty or
// foreign pages, or miscounts gets a clear error, never a loop.
func TestReadSessionPagesBounds(t *testing.T) {
	ctx := t.Context()
	f := newFakePages(t, 20, 100)
	pages, err := ReadSessionPages(ctx, f.call, 100)
	if err != nil || pages.Len() != 20 || pages.Pages() != len(f.ends) || pages.Pages() < 5 || f.calls != pages.Pages() {
		t.Fatalf("an honest plugin: %v, %d sessions in %d pages by %d calls", err, pages.Len(), pages.Pages(), f.calls)
	}
	var ids []uint64
	if err := pages.Range(func(d contract.SessionData, err error) { ids = append(ids, d.Sessid) }); err != nil ||
		len(ids) != 20 || !slices.IsSorted(ids) {
		t.Fatalf("read %v, %v", ids, err)
	}

	for _, c := range []struct {
		name   string
		change func(req *portalpb.SessionsRequest, resp *portalpb.SessionsResponse) error
		want   string
		calls  int
	}{
		{"pages without end", func(req *portalpb.SessionsRequest, resp *portalpb.SessionsResponse) error {
			resp.NextPage, resp.Total = req.GetPage()+1, 1<<40
			return nil
		}, "more than 4096 pages", MaxSessionsPages},
		{"an empty page that is not the last", onPage(2, func(r *portalpb.SessionsResponse) { r.ProtoReflect().SetUnknown(nil) }),
			"page 2 of snapshot 5 is empty but not the last", 3},
		{"another snapshot", onPage(3, func(r *portalpb.SessionsResponse) { r.Snapshot = 6 }),
			"page 3 is of snapshot 6, asked of 5", 4},
		{"a page skipped", onPage(1, func(r *portalpb.SessionsResponse) { r.NextPage = 3 }),
			"page 1 names page 3 next, not 2", 2},
		{"fewer sessions than said", onPage(-1, func(r *portalpb.SessionsResponse) { r.Total = 21 }), "20 sessions in", 0},
		{"more sessions than said", onPage(-1, func(r *portalpb.SessionsResponse) { r.Total = 3 }),
			"takes the sessions past the 3", 0},
		{"a whole answer naming a next page", onPage(-1, func(r *portalpb.SessionsResponse) { r.Snapshot = 0 }),
			"an answer without a snapshot names a next page", 1},
		{"an error", func(req *portalpb.SessionsRequest, resp *portalpb.SessionsResponse) error {
			if req.GetPage() == 1 {
				return status.Error(codes.Unavailable, "plugin gone")
			}
			return nil
		}, "sessions page 1: rpc error: code = Unavailable desc = plugin gone", 2},
	} {
		f := newFakePages(t, 20, 100)
		f.change = c.change
		_, err := ReadSessionPages(ctx, f.call, 100)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
		if c.calls != 0 && f.calls != c.calls {
			t.Errorf("%s: %d calls, want %d", c.name, f.calls, c.calls)
		}
	}

	// Pages of 8 MiB without end stop at the byte bound, not the pages'.
	big := &SessionList{}
	d := contract.SessionData{Sessid: 1}
	d.SetServerData("blob", strings.Repeat("b", SessionsPageBytes-64))
	if err := big.Append(&d); err != nil {
		t.Fatal(err)
	}
	calls, size := 0, 0
	_, err = ReadSessionPages(ctx, func(_ context.Context, req *portalpb.SessionsRequest) (*portalpb.SessionsResponse, error) {
		calls++
		resp := &portalpb.SessionsResponse{Snapshot: 1, NextPage: req.GetPage() + 1, Total: 1 << 40}
		resp.ProtoReflect().SetUnknown(big.Bytes())
		size = proto.Size(resp)
		return resp, nil
	}, 0)
	if err == nil || !strings.Contains(err.Error(), "passed 1073741824 bytes") || calls != MaxSessionsAnswerBytes/size+1 {
		t.Errorf("8 MiB pages without end: %v after %d calls", err, calls)
	}
}

// TestReadSessionPagesStartsAgainOnce: a page whose snapshot is gone sends
// the reader back to the first page once; gone again, it is an error that
// says so.
func TestReadSessionPagesStartsAgainOnce(t *testing.T) {
	gone := func(times int) *fakePages {
		f := newFakePages(t, 20, 100)
		f.change = func(req *portalpb.SessionsRequest, _ *portalpb.SessionsResponse) error {
			if req.GetPage() == 2 && times > 0 {
				times--
				return status.Error(SessionsSnapshotGone, "snapshot 5 is gone")
			}
			return nil
		}
		return f
	}
	f := gone(1)
	pages, err := ReadSessionPages(t.Context(), f.call, 100)
	if err != nil || !pages.Restarted || pages.Len() != 20 || f.calls != 3+len(f.ends) {
		t.Fatalf("gone once: %v, restarted %v, %d sessions by %d calls", err, pages != nil && pages.Restarted, pages.Len(), f.calls)
	}
	f = gone(2)
	_, err = ReadSessionPages(t.Context(), f.call, 100)
	if status.Code(err) != SessionsSnapshotGone || !strings.Contains(err.Error(), "page 2 of snapshot 5") || f.calls != 6 {
		t.Fatalf("gone twice: %v after %d calls", err, f.calls)
	}
	// A first page refused is not a lost snapshot: no second try.
	f = newFakePages(t, 20, 100)
	f.change = func(*portalpb.SessionsRequest, *portalpb.SessionsResponse) error {
		return status.Error(codes.NotFound, "no such method")
	}
	if _, err := ReadSessionPages(t.Context(), f.call, 100); err == nil || f.calls != 1 || errors.As(err, new(errSnapshotGone)) {
		t.Fatalf("a first page refused: %v after %d calls", err, f.calls)
	}
}

// BenchmarkSessionPagesOverhead is what paging adds to a reattach's
// Sessions call of 10,000 telnet sessions (one page): the plugin's split
// of its list into pages and the host's split of the answer into its
// sessions and its paging fields.
func BenchmarkSessionPagesOverhead(b *testing.B) {
	var list SessionList
	for i := range 10000 {
		d := telnetSession()
		d.Sessid = uint64(i + 1)
		if err := list.Append(&d); err != nil {
			b.Fatal(err)
		}
	}
	page := &portalpb.SessionsResponse{Snapshot: 1, Total: 10000}
	page.ProtoReflect().SetUnknown(list.Bytes())
	answer, err := proto.Marshal(page)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(answer)))
	for b.Loop() {
		ends, err := SessionPageEnds(list.Bytes(), SessionsPageBytes)
		if err != nil || len(ends) != 1 {
			b.Fatal(ends, err)
		}
		sessions, rest, err := splitSessionsAnswer(answer)
		if err != nil || len(sessions) != len(list.Bytes()) || len(rest) == 0 {
			b.Fatal(err)
		}
	}
}
