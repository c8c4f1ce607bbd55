package sdk

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// A plugin speaks the lower of its data link version and the host's: a
// host built before data frames (version 1) gets every event in events
// frames and may not send data frames; a version 2 host gets plain input
// as data frames and its output in data frames is delivered.
func TestDataLinkSpeaksTheHostsVersion(t *testing.T) {
	secret := make([]byte, wire.SecretSize)
	for _, tt := range []struct {
		host, want byte
		input      wire.FrameType
	}{{1, 1, wire.FrameEvents}, {2, 2, wire.FrameData}, {9, wire.DataLinkVersion, wire.FrameData}} {
		hello := wire.NewFrameReader(bytes.NewReader(wire.AppendHello(nil, tt.host, secret)))
		got, err := readHello(hello, secret)
		if err != nil || got != tt.want {
			t.Fatalf("a host speaking %d: the plugin speaks %d (%v), want %d", tt.host, got, err, tt.want)
		}
		s := NewServer(newTestPlugin(), discardLog())
		p := s.portal
		p.grant(1, 1<<40)
		hostSide, pluginSide := net.Pipe()
		rd := wire.NewFrameReader(pluginSide)
		rd.Agree(got)
		served := make(chan struct{})
		go func() {
			defer close(served)
			s.serveDataLink(pluginSide, rd)
		}()
		_ = hostSide.SetDeadline(time.Now().Add(10 * time.Second))
		hr := wire.NewFrameReader(hostSide)
		hr.Agree(got)
		// A pong proves the link attached to the outbox (the reader
		// starts after): input typed before that is queued, and a queue
		// goes out as an events frame on any version.
		if _, err := hostSide.Write(wire.AppendPing(nil, 1)); err != nil {
			t.Fatal(err)
		}
		if typ, _, err := hr.Next(); err != nil || typ != wire.FramePong {
			t.Fatalf("version %d: %v %v, want a pong", got, typ, err)
		}
		conn := newFakeConn()
		sess := typed(t, p, conn, "look")
		var in []*portalpb.Event
		for len(in) == 0 {
			typ, body, err := hr.Next()
			if err != nil {
				t.Fatal(err)
			}
			switch typ {
			case wire.FrameData:
				err = wire.ParseData(body, func(ev wire.DataEvent) error {
					pe, err := ev.PB()
					in = append(in, pe)
					return err
				})
			case wire.FrameEvents:
				var evs []*portalpb.Event
				evs, err = wire.ParseEvents(body)
				for _, ev := range evs {
					if ev.GetDataIn() != nil {
						in = append(in, ev)
						if typ != tt.input {
							t.Errorf("version %d: input came in a %v frame, want %v", got, typ, tt.input)
						}
					}
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if typ != tt.input {
				t.Errorf("version %d: input came in a %v frame, want %v", got, typ, tt.input)
			}
		}
		if line := in[0].GetDataIn().GetMessages()[0].GetStrArgs(); len(line) != 1 || line[0] != "look" {
			t.Errorf("version %d: input %v", got, in[0])
		}

		out := &portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: []uint64{sess.ID()},
			Messages: []*portalpb.Message{{Name: "text", StrArgs: []string{"You see a room."}}}}}}
		b, err := wire.AppendFrames(nil, got, out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hostSide.Write(b); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-conn.sends:
			if len(c.msgs) != 1 || c.msgs[0].Args[0] != "You see a room." {
				t.Errorf("version %d: delivered %v", got, c.msgs)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("version %d: output not delivered", got)
		}
		if got == 1 {
			// A data frame on a version 1 link ends it.
			b, _ := wire.AppendFrames(nil, 2, out)
			if _, err := hostSide.Write(b); err != nil {
				t.Fatal(err)
			}
			select {
			case <-served:
			case <-time.After(10 * time.Second):
				t.Fatal("a data frame on a version 1 link did not end it")
			}
		}
		hostSide.Close()
		<-served
		s.Close()
	}
	if _, err := readHello(wire.NewFrameReader(bytes.NewReader(wire.AppendHello(nil, 0, secret))), secret); err == nil {
		t.Error("a host speaking version 0 was accepted")
	}
}
