package wire

import (
	"errors"
	"strings"
	"testing"

	"github.com/portico-mud/portico/sdk/portalpb"
)

func TestOutboxRefusesOversizedEvent(t *testing.T) {
	o := NewOutbox(0)
	big := &portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: []uint64{1},
		Messages: []*portalpb.Message{{Name: "text", StrArgs: []string{strings.Repeat("x", MaxEventBytes)}}}}}}
	if err := o.Put(big); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("Put(oversized) = %v, want ErrEventTooLarge", err)
	}
	if o.Len() != 0 {
		t.Fatal("an oversized event was queued")
	}
	small := &portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: []uint64{1}}}}
	if err := o.Put(small); err != nil || o.Len() != 1 {
		t.Fatalf("Put(small) = %v, len %d", err, o.Len())
	}
}
