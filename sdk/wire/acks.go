package wire

import (
	"slices"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// Input acknowledgements. A plugin numbers its input (DataIn.seq, from 1,
// in the order it sends it); the host says what it has finished with
// InputAck events, and, at each Configure, how far the hosts before it got
// (InputReceipt). The plugin keeps what is not finished, so that input a
// host never received is sent again to the host that reattaches after a
// crash, and the players of input it received but had not finished are
// told instead (commands are not idempotent). These are the one place
// that maps them to the wire and says what an ack means.

// DataInToPB encodes one session's input, numbered seq.
func DataInToPB(sessid, seq uint64, msgs []contract.Message) (*portalpb.Event, error) {
	pms, err := MessagesToPB(msgs)
	if err != nil {
		return nil, err
	}
	return &portalpb.Event{Kind: &portalpb.Event_DataIn{DataIn: &portalpb.DataIn{
		Sessid: sessid, Messages: pms, Seq: seq}}}, nil
}

// DataInFromPB decodes one session's input and its number (0: the plugin
// does not number its input).
func DataInFromPB(d *portalpb.DataIn) (sessid, seq uint64, msgs []contract.Message, err error) {
	msgs, err = MessagesFromPB(d.GetMessages())
	return d.GetSessid(), d.GetSeq(), msgs, err
}

// MaxAckUnfinished bounds the unfinished seqs one ack lists (8 KiB or so
// on the wire): more than that are rare (every one waits on a password
// check or a login delay), and the ack then says the list is cut.
const MaxAckUnfinished = 1024

// InputAck is what the host has finished of a plugin's input.
type InputAck struct {
	// Received is the highest seq the host has taken from the link.
	Received uint64
	// Handled: every seq at or below it is finished.
	Handled uint64
	// Unfinished are the seqs in (Handled, Received] not finished yet,
	// ascending; the others in that range are finished.
	Unfinished []uint64
	// Truncated says Unfinished holds only the lowest of them: the seqs
	// above its last entry are not known to be finished.
	Truncated bool
}

// Finished reports whether the ack says seq is finished.
func (a InputAck) Finished(seq uint64) bool {
	if seq <= a.Handled {
		return true
	}
	if seq > a.Received {
		return false
	}
	if a.Truncated && (len(a.Unfinished) == 0 || seq > a.Unfinished[len(a.Unfinished)-1]) {
		return false
	}
	_, listed := slices.BinarySearch(a.Unfinished, seq)
	return !listed
}

// InputAckToPB encodes an ack as a Link event.
func InputAckToPB(a InputAck) *portalpb.Event {
	return &portalpb.Event{Kind: &portalpb.Event_InputAck{InputAck: &portalpb.InputAck{
		Received: a.Received, Handled: a.Handled, Unfinished: a.Unfinished, Truncated: a.Truncated}}}
}

// InputAckFromPB decodes an ack. A malformed one (handled above received,
// unfinished out of range or out of order) is read as no more than it can
// be trusted to say: handled is capped at received, and the list is cut
// where it stops being ascending within (handled, received].
func InputAckFromPB(p *portalpb.InputAck) InputAck {
	a := InputAck{Received: p.GetReceived(), Handled: min(p.GetHandled(), p.GetReceived()), Truncated: p.GetTruncated()}
	last := a.Handled
	for _, u := range p.GetUnfinished() {
		if u <= last || u > a.Received {
			a.Truncated = true
			break
		}
		a.Unfinished = append(a.Unfinished, u)
		last = u
	}
	return a
}

// Receipt is what a host knows, at Configure, of the input earlier host
// images received from the plugin process (see portalpb.InputReceipt).
type Receipt struct {
	// Received is the highest seq any host took from the process.
	Received uint64
	// Known is false when the host lost its record of Received.
	Known bool
}

// ReceiptToPB encodes a receipt for ConfigureRequest.
func ReceiptToPB(r Receipt) *portalpb.InputReceipt {
	return &portalpb.InputReceipt{Received: r.Received, Known: r.Known}
}

// ReceiptFromPB decodes a ConfigureRequest's receipt; ok is false when the
// host sent none (it does not acknowledge input).
func ReceiptFromPB(p *portalpb.InputReceipt) (r Receipt, ok bool) {
	if p == nil {
		return Receipt{}, false
	}
	return Receipt{Received: p.GetReceived(), Known: p.GetKnown()}, true
}
