package plugins

import (
	"context"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// TestDetachAnnouncesAfterTheRequest: a reload asks each plugin to detach
// before it announces the restart, on the same link, so that the plugin
// confirms before it writes the announcement to every client (before, the
// Detached waited behind that fan-out, and so did the whole hand-over).
// The announcement goes out before the plugin has answered, and the
// session data is pushed only after it has.
func TestDetachAnnouncesAfterTheRequest(t *testing.T) {
	r := dataRunner(t, config.Server{PluginPingInterval: time.Hour, PluginPingTimeout: time.Hour, PluginOutboxMiB: 64})
	r.detached = make(chan struct{})
	r.m.runners = map[string]*runner{r.name: r}
	c, _ := serveData(t, r, newFakePlugin(t))

	announcement := &portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: []uint64{1, 2},
		Messages: []*portalpb.Message{{Name: "text", StrArgs: []string{" Server restart initiated ..."}}}}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	synced := make(chan struct{})
	detached := make(chan error, 1)
	go func() {
		detached <- r.m.Detach(ctx, func() { r.send(announcement) }, func() { close(synced) })
	}()

	var kinds []string
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(kinds) < 2 {
		typ, body, err := c.rd.Next()
		if err != nil {
			t.Fatalf("reading the host's frames: %v (so far %v)", err, kinds)
		}
		if typ == wire.FrameData {
			// The announcement, as plain output, comes in a data frame.
			if err := wire.ParseData(body, func(ev wire.DataEvent) error {
				if ev.Out {
					kinds = append(kinds, "announcement")
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if typ != wire.FrameEvents {
			continue
		}
		evs, err := wire.ParseEvents(body)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			switch ev.Kind.(type) {
			case *portalpb.Event_Detach:
				kinds = append(kinds, "detach")
			case *portalpb.Event_DataOut:
				kinds = append(kinds, "announcement")
			default:
				kinds = append(kinds, "other")
			}
		}
	}
	if kinds[0] != "detach" || kinds[1] != "announcement" {
		t.Fatalf("the plugin was sent %v; want the detach request, then the announcement", kinds)
	}
	select {
	case <-synced:
		t.Fatal("the session data was pushed before the plugin confirmed")
	default:
	}
	last, err := wire.AppendEvents(nil, &portalpb.Event{Kind: &portalpb.Event_Detached{Detached: &portalpb.Detached{}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.conn.Write(last); err != nil {
		t.Fatal(err)
	}
	select {
	case <-synced:
	case <-time.After(10 * time.Second):
		t.Fatal("the confirmation did not lead to the push of the session data")
	}
	if err := <-detached; err != nil {
		t.Fatalf("Detach: %v", err)
	}
}
