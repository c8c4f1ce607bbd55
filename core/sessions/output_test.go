package sessions

import (
	"fmt"
	"slices"
	"testing"

	"github.com/portico-mud/portico/sdk/contract"
)

func TestAnnounceAllOneEventPerPlugin(t *testing.T) {
	x := newHarness(t)
	x.connect("telnet", 1)
	x.connect("websocket", 2)
	x.connect("telnet", 3)
	x.p.Reset()
	x.h.AnnounceAll("Server restart initiated.")

	outs := dataOuts(t, x.p.Events())
	if len(outs) != 2 {
		t.Fatalf("DataOut events = %d, want one per plugin", len(outs))
	}
	got := map[string][]uint64{}
	for _, o := range outs {
		got[o.Plugin] = o.Sessids
		if len(o.Msgs) != 1 || o.Msgs[0].Name != "text" || o.Msgs[0].Args[0] != "Server restart initiated." {
			t.Errorf("messages to %s = %+v", o.Plugin, o.Msgs)
		}
	}
	if !slices.Equal(got["telnet"], []uint64{1, 3}) || !slices.Equal(got["websocket"], []uint64{2}) {
		t.Errorf("recipients = %v, want telnet [1 3] and websocket [2]", got)
	}
}

func TestBroadcast(t *testing.T) {
	x := newHarness(t)
	s1 := x.connect("telnet", 1)
	s2 := x.connect("telnet", 2)
	s3 := x.connect("ssh", 3)
	x.connect("telnet", 4)
	x.h.Disconnect(s2, "", false)
	x.p.Reset()
	x.h.Broadcast([]*ServerSession{s3, s1, s2}, contract.Text("hi"), contract.Prompt("> "))

	outs := dataOuts(t, x.p.Events())
	if len(outs) != 2 {
		t.Fatalf("events = %+v, want two", outs)
	}
	if outs[0].Plugin != "ssh" || !slices.Equal(outs[0].Sessids, []uint64{3}) ||
		outs[1].Plugin != "telnet" || !slices.Equal(outs[1].Sessids, []uint64{1}) {
		t.Errorf("recipients = %+v; want ssh [3] then telnet [1] (gone and untargeted sessions left out)", outs)
	}
	if m := outs[1].Msgs; len(m) != 2 || m[0].Name != "text" || m[1].Name != "prompt" {
		t.Errorf("messages = %+v", m)
	}

	x.p.Reset()
	x.h.Broadcast(nil, contract.Text("nobody"))
	if len(x.p.Events()) != 0 {
		t.Error("a broadcast to nobody sent something")
	}
}

func TestDataOutAndCleanSendData(t *testing.T) {
	x := newHarness(t)
	s := x.connect("telnet", 1)
	x.h.DataOut(s, map[string]any{
		"prompt":  "> ",
		"text":    "Hello",
		"options": map[string]any{"raw": true},
	})
	outs := dataOuts(t, x.p.Events())
	if len(outs) != 1 || !slices.Equal(outs[0].Sessids, []uint64{1}) {
		t.Fatalf("DataOut events = %+v, want one to session 1", outs)
	}
	m := outs[0].Msgs
	if len(m) != 2 || m[0].Name != "text" || m[0].Args[0] != "Hello" || m[1].Name != "prompt" || m[1].Args[0] != "> " {
		t.Fatalf("messages = %+v, want text then prompt", m)
	}
	for _, msg := range m {
		if opts := msg.Options(); opts["raw"] != true {
			t.Errorf("%s options = %v, want raw", msg.Name, opts)
		}
	}

	// A falsy text is dropped; bytes decode with the session's encoding.
	s.ProtocolFlags.Set(contract.FlagEncoding, "latin-1")
	got := x.h.CleanSendData(s, map[string]any{"text": "", "custom": []byte{'c', 0xe9}})
	if len(got) != 1 || got[0].Name != "custom" || got[0].Args[0] != "cé" {
		t.Errorf("CleanSendData = %+v, want only custom(\"cé\")", got)
	}
	if got := x.h.CleanSendData(s, map[string]any{"text": ""}); len(got) != 0 {
		t.Errorf("CleanSendData of an empty text = %+v, want nothing", got)
	}

	x.p.Reset()
	s.DataOut(map[string]any{"text": ""})
	if len(x.p.Events()) != 0 {
		t.Error("DataOut with nothing to send sent an event")
	}
}

func TestSendMessages(t *testing.T) {
	x := newHarness(t)
	s := x.connect("websocket", 9)
	x.h.SendMessages(s)
	x.h.SendMessages(s, contract.Message{Name: "custom", Args: []any{int64(1), "two"}, Kwargs: map[string]any{"k": "v"}})
	s.Send(contract.Text("a"))
	s.Msg("b")
	evs := x.p.Events()
	if len(evs) != 3 {
		t.Fatalf("events = %d, want 3: %s", len(evs), describe(t, evs))
	}
	c := msgsFor(t, evs, 9, "custom")
	if len(c) != 1 || c[0].Args[0] != int64(1) || c[0].Args[1] != "two" || c[0].Kwargs["k"] != "v" {
		t.Errorf("custom = %+v", c)
	}
	if got := textsFor(t, evs, 9); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("texts = %q", got)
	}
	x.h.Disconnect(s, "", false)
	x.h.SendMessages(s, contract.Text("late"))
	if len(x.p.Events()) != 3 {
		t.Error("SendMessages reached a disconnected session")
	}
}

// TestAnnounceAllOrder: each plugin's recipients in id order, the plugins
// in the order of their first session, whatever order the sessions came
// in (the map AnnounceAll reads has none).
func TestAnnounceAllOrder(t *testing.T) {
	x := newHarness(t)
	for _, c := range []struct {
		plugin string
		id     uint64
	}{{"websocket", 9}, {"telnet", 12}, {"ssh", 3}, {"telnet", 2}, {"websocket", 1}, {"telnet", 7}, {"ssh", 20}} {
		x.connect(c.plugin, c.id)
	}
	for range 5 {
		x.p.Reset()
		x.h.AnnounceAll("hello")
		outs := dataOuts(t, x.p.Events())
		var got []string
		for _, o := range outs {
			got = append(got, fmt.Sprintf("%s%v", o.Plugin, o.Sessids))
		}
		if want := []string{"websocket[1 9]", "telnet[2 7 12]", "ssh[3 20]"}; !slices.Equal(got, want) {
			t.Fatalf("announce went out as %v, want %v", got, want)
		}
	}
}
