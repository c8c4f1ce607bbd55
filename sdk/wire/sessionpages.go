package wire

import (
	"context"
	"errors"
	"fmt"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// A reattaching host asks a plugin for every live session (Sessions). In
// one gRPC message the answer is capped by MaxMessageBytes: some 41,000
// sessions without server data, a few thousand where the game keeps a few
// KB of it on each. Past the cap the call would fail and a reload would
// drop the plugin's players, so the answer comes in pages: the plugin
// encodes its whole list once, at the first page's call (a point-in-time
// snapshot, as the single answer was), and serves the later pages from
// that snapshot; the host reads them in a loop until the last and restores
// the whole list at once.

// SessionsPageBytes is the most bytes of encoded sessions one page of a
// Sessions answer carries: what a host asks for, and the plugin's own
// bound on a page whatever the host asks. Half the message bound, like a
// whole-plugin sync's parts, leaves room for the envelope and for one
// session that alone is larger than a page. Ten thousand sessions without
// server data (some 4 MB) stay one page: paging adds no round trip there.
const SessionsPageBytes = MaxMessageBytes / 2

// Bounds on what a host accepts of one plugin's paged Sessions answer: a
// hostile or broken plugin that pages forever or without end gets a clear
// error, not an ever-growing host. Both are far past any real plugin's:
// a gibibyte is some 2.6 million sessions without server data, or a
// hundred thousand with 10 KB of it each; MaxSessionsPages of
// SessionsPageBytes is 32 GiB, so the pages bound only bites on a plugin
// that pages far smaller than it is asked to.
const (
	MaxSessionsAnswerBytes = 1 << 30
	MaxSessionsPages       = 4096
)

// SessionsSnapshotGone is the status code of a page asked of a snapshot
// the plugin no longer holds (it expired, or a newer first page replaced
// it). A host then starts again from the first page.
const SessionsSnapshotGone = codes.NotFound

// SessionPageEnds splits an encoded session list (SessionList.Bytes) into
// pages of at most limit bytes, at entry boundaries, and returns where
// each page ends. A session larger than limit is a page of its own: every
// page holds at least one session, so a reader always gets on. An empty
// list is one empty page. Only the entries' tags and lengths are read.
func SessionPageEnds(b []byte, limit int) ([]int, error) {
	var ends []int
	start, at := 0, 0
	for at < len(b) {
		_, _, n := protowire.ConsumeField(b[at:])
		if n < 0 {
			return nil, fmt.Errorf("wire: session list: %w", protowire.ParseError(n))
		}
		if at > start && at+n-start > limit {
			ends = append(ends, at)
			start = at
		}
		at += n
	}
	return append(ends, len(b)), nil
}

// SessionsCall makes one Sessions call: the host's gRPC client with
// RawSessionsAnswer, say.
type SessionsCall func(ctx context.Context, req *portalpb.SessionsRequest) (*portalpb.SessionsResponse, error)

// SessionPages is a plugin's Sessions answer as ReadSessionPages read it:
// every page of one snapshot, still encoded.
type SessionPages struct {
	pages []*portalpb.SessionsResponse
	n     int
	bytes int
	// Restarted is set when a page's snapshot was gone and the answer was
	// read again from the first page.
	Restarted bool
}

// Len is the number of sessions in all pages.
func (p *SessionPages) Len() int { return p.n }

// Pages is the number of pages read (of the last snapshot, after a
// restart).
func (p *SessionPages) Pages() int { return len(p.pages) }

// Bytes is the size of the pages as encoded.
func (p *SessionPages) Bytes() int { return p.bytes }

// Range calls fn with each session of every page in order, or with the
// error of one that does not decode (ReadSessions). It returns an error
// only when a page is malformed.
func (p *SessionPages) Range(fn func(d contract.SessionData, err error)) error {
	for i, resp := range p.pages {
		if err := ReadSessions(resp, fn); err != nil {
			return fmt.Errorf("page %d: %w", i, err)
		}
	}
	return nil
}

// ReadSessionPages reads a plugin's sessions in pages of at most pageBytes
// (0: SessionsPageBytes) by call, until the page that says it is the last.
// A plugin that does not page answers the whole list in one answer, which
// is read as a single, last page.
//
// The pages must be of one snapshot, in order, none empty but the last,
// and add up to the number of sessions the plugin said; at most
// MaxSessionsPages pages and MaxSessionsAnswerBytes bytes are read. A page
// asked of a snapshot the plugin no longer holds (SessionsSnapshotGone) is
// asked again from the first page, once: a second loss is an error, not a
// loop.
func ReadSessionPages(ctx context.Context, call SessionsCall, pageBytes int) (*SessionPages, error) {
	if pageBytes <= 0 || pageBytes > SessionsPageBytes {
		pageBytes = SessionsPageBytes
	}
	restarted := false
	for {
		p, err := readSnapshot(ctx, call, uint32(pageBytes))
		if err == nil {
			p.Restarted = restarted
			return p, nil
		}
		if restarted || !snapshotGone(err) {
			return nil, err
		}
		restarted = true
	}
}

// errSnapshotGone marks a later page refused because its snapshot is gone,
// for ReadSessionPages to start again.
type errSnapshotGone struct{ err error }

func (e errSnapshotGone) Error() string { return e.err.Error() }
func (e errSnapshotGone) Unwrap() error { return e.err }

func snapshotGone(err error) bool {
	var gone errSnapshotGone
	return errors.As(err, &gone)
}

// readSnapshot reads every page of one snapshot, from the first.
func readSnapshot(ctx context.Context, call SessionsCall, pageBytes uint32) (*SessionPages, error) {
	p := &SessionPages{}
	req := &portalpb.SessionsRequest{PageBytes: pageBytes}
	var snapshot, total uint64
	for {
		resp, err := call(ctx, req)
		if err != nil {
			if req.GetPage() > 0 && status.Code(err) == SessionsSnapshotGone {
				return nil, errSnapshotGone{fmt.Errorf("wire: sessions page %d of snapshot %d: %w", req.GetPage(), snapshot, err)}
			}
			return nil, fmt.Errorf("wire: sessions page %d: %w", req.GetPage(), err)
		}
		n := SessionsIn(resp)
		if len(p.pages) == 0 {
			snapshot, total = resp.GetSnapshot(), resp.GetTotal()
		}
		if err := p.checkPage(req, resp, snapshot, total, n); err != nil {
			return nil, err
		}
		p.pages = append(p.pages, resp)
		p.n += n
		p.bytes += proto.Size(resp)
		if p.bytes > MaxSessionsAnswerBytes {
			return nil, fmt.Errorf("wire: sessions: the answer passed %d bytes at page %d: refused", MaxSessionsAnswerBytes, req.GetPage())
		}
		next := resp.GetNextPage()
		if next == 0 {
			if snapshot != 0 && uint64(p.n) != total {
				return nil, fmt.Errorf("wire: sessions: %d sessions in %d pages of snapshot %d, which the plugin said holds %d",
					p.n, len(p.pages), snapshot, total)
			}
			return p, nil
		}
		req = &portalpb.SessionsRequest{PageBytes: pageBytes, Snapshot: snapshot, Page: next}
	}
}

// checkPage checks one page of an answer against the pages before it:
// an unpaged answer is whole, pages come in order from one snapshot, none
// but the last is empty (a plugin that pages without end gets nowhere),
// the sessions stay within what the plugin said, the pages within
// MaxSessionsPages.
func (p *SessionPages) checkPage(req *portalpb.SessionsRequest, resp *portalpb.SessionsResponse, snapshot, total uint64, n int) error {
	next, page := resp.GetNextPage(), req.GetPage()
	switch {
	case snapshot == 0 && next != 0:
		return fmt.Errorf("wire: sessions: an answer without a snapshot names a next page (%d)", next)
	case resp.GetSnapshot() != snapshot:
		return fmt.Errorf("wire: sessions: page %d is of snapshot %d, asked of %d", page, resp.GetSnapshot(), snapshot)
	case next != 0 && next != page+1:
		return fmt.Errorf("wire: sessions: page %d names page %d next, not %d", page, next, page+1)
	case next != 0 && n == 0:
		return fmt.Errorf("wire: sessions: page %d of snapshot %d is empty but not the last", page, snapshot)
	case resp.GetTotal() != total:
		return fmt.Errorf("wire: sessions: page %d says snapshot %d holds %d sessions, the first said %d", page, snapshot, resp.GetTotal(), total)
	case snapshot != 0 && uint64(p.n+n) > total:
		return fmt.Errorf("wire: sessions: page %d of snapshot %d takes the sessions past the %d the plugin said", page, snapshot, total)
	case next >= MaxSessionsPages:
		return fmt.Errorf("wire: sessions: more than %d pages: refused", MaxSessionsPages)
	}
	return nil
}
