package sdk

import (
	"fmt"
	"sync"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// sessionsPageBytes is the plugin's own bound on a page of its Sessions
// answer, whatever the host asks for (wire.SessionsPageBytes). A variable
// only so that tests can page a few sessions.
var sessionsPageBytes = wire.SessionsPageBytes

// sessionsSnapshotIdle is how long a snapshot of the sessions is kept
// without a page being asked of it. A host reads its pages back to back
// (its whole restore has 20 s), so only a host that died or gave up while
// paging leaves one that long; the memory goes back then, not at the next
// host's first page, which may never come.
var sessionsSnapshotIdle = 30 * time.Second

// sessionsSnapshot is the encoded session list of a paged Sessions answer,
// taken at its first page: the later pages are cut from it, so that the
// host reads one point in time however many pages it takes.
type sessionsSnapshot struct {
	id    uint64
	list  []byte
	ends  []int // where each page ends in list (wire.SessionPageEnds)
	total uint64
	// timer releases the snapshot when no page was asked of it by
	// deadline; a timer that fires as a page is asked finds the deadline
	// moved on.
	timer    *time.Timer
	deadline time.Time
}

// page answers page i of the snapshot.
func (sn *sessionsSnapshot) page(i uint32) *portalpb.SessionsResponse {
	start := 0
	if i > 0 {
		start = sn.ends[i-1]
	}
	resp := &portalpb.SessionsResponse{Snapshot: sn.id, Total: sn.total}
	if int(i)+1 < len(sn.ends) {
		resp.NextPage = i + 1
	}
	resp.ProtoReflect().SetUnknown(sn.list[start:sn.ends[i]])
	return resp
}

// sessionSnapshots holds the plugin's one live snapshot (a host reads
// one answer at a time; a new first page replaces the old snapshot).
type sessionSnapshots struct {
	mu     sync.Mutex
	cur    *sessionsSnapshot
	lastID uint64
}

// take makes a snapshot of list paged at limit bytes and returns it. One
// that has more than one page is kept for the later pages (in place of any
// earlier one) until its last page is served, a newer first page replaces
// it, or no page was asked of it for sessionsSnapshotIdle.
func (ss *sessionSnapshots) take(list *wire.SessionList, limit int) (*sessionsSnapshot, error) {
	ends, err := wire.SessionPageEnds(list.Bytes(), limit)
	if err != nil {
		return nil, err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.releaseLocked()
	ss.lastID++
	sn := &sessionsSnapshot{id: ss.lastID, list: list.Bytes(), ends: ends, total: uint64(list.Len())}
	if len(ends) > 1 {
		ss.cur = sn
		sn.deadline = time.Now().Add(sessionsSnapshotIdle)
		sn.timer = time.AfterFunc(sessionsSnapshotIdle, func() { ss.expire(sn) })
	}
	return sn, nil
}

// get answers page i of snapshot id, releasing the snapshot with its last
// page. A snapshot that is gone (served, replaced, expired) is refused with
// wire.SessionsSnapshotGone, which sends the host back to the first page.
func (ss *sessionSnapshots) get(id uint64, i uint32) (*portalpb.SessionsResponse, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sn := ss.cur
	if sn == nil || sn.id != id {
		return nil, status.Error(wire.SessionsSnapshotGone, fmt.Sprintf(
			"sessions: snapshot %d is gone (its last page was served, a newer first page replaced it, or it was idle for %v); ask again from the first page",
			id, sessionsSnapshotIdle))
	}
	if int(i) >= len(sn.ends) {
		return nil, status.Error(codes.OutOfRange, fmt.Sprintf("sessions: snapshot %d has %d pages, not page %d", id, len(sn.ends), i))
	}
	if int(i)+1 == len(sn.ends) {
		ss.releaseLocked()
	} else {
		sn.deadline = time.Now().Add(sessionsSnapshotIdle)
		sn.timer.Reset(sessionsSnapshotIdle)
	}
	return sn.page(i), nil
}

// expire releases sn if it is still the live snapshot and no page was
// asked of it since the timer was set.
func (ss *sessionSnapshots) expire(sn *sessionsSnapshot) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.cur == sn && !time.Now().Before(sn.deadline) {
		ss.releaseLocked()
	}
}

// release lets the live snapshot go (the server closes).
func (ss *sessionSnapshots) release() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.releaseLocked()
}

func (ss *sessionSnapshots) releaseLocked() {
	if ss.cur != nil {
		ss.cur.timer.Stop()
		ss.cur = nil
	}
}
