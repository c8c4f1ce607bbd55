package sdk_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// printConn is a Conn that prints what the host sends its client.
type printConn struct{}

func (printConn) Send(_ *sdk.Session, msgs []sdk.Message) {
	for _, m := range msgs {
		fmt.Printf("to the client: %s %v\n", m.Name, m.Args)
	}
}

func (printConn) Close(reason string) { fmt.Printf("closed: %q\n", reason) }

// A session's life as the host sees it: the portal queues Connect, then
// the client's input in order, on the Link. Flush hands the queued events
// over as frames, as the link's sender would.
func ExampleNewTestPortal() {
	portal := sdk.NewTestPortal(slog.New(slog.DiscardHandler))
	sess, err := portal.NewSession(context.Background(), printConn{}, "demo", "192.0.2.1:4000")
	if err != nil {
		fmt.Println(err)
		return
	}
	sess.DataIn(sdk.Text("typed before Connect is held back"))
	sess.Connect()
	sess.DataIn(sdk.Text("look"), sdk.Text("say hi"))
	sess.Disconnected("client hung up")

	_ = portal.Outbox().Flush(func(f *portalpb.Frame) error {
		for _, ev := range f.GetEvents() {
			switch k := ev.Kind.(type) {
			case *portalpb.Event_Connect:
				d := k.Connect.GetSession()
				fmt.Printf("connect: session %d, %s from %s\n", d.GetSessid(), d.GetProtocolKey(), d.GetAddress())
			case *portalpb.Event_DataIn:
				msgs, _ := wire.MessagesFromPB(k.DataIn.GetMessages())
				for _, m := range msgs {
					fmt.Printf("data in: session %d %s %q\n", k.DataIn.GetSessid(), m.Name, m.Args[0])
				}
			case *portalpb.Event_Disconnected:
				fmt.Printf("disconnected: session %d (%s)\n", k.Disconnected.GetSessid(), k.Disconnected.GetReason())
			}
		}
		return nil
	})
	// Output:
	// connect: session 1, demo from 192.0.2.1:4000
	// data in: session 1 text "typed before Connect is held back"
	// data in: session 1 text "look"
	// data in: session 1 text "say hi"
	// disconnected: session 1 (client hung up)
}

// Config.Decode fills a struct holding the defaults; a key the struct does
// not know is an error naming it, so that a typo in config.yaml is caught.
func ExampleConfig_Decode() {
	type telnetConfig struct {
		Listen    string `json:"listen"`
		Keepalive int    `json:"keepalive"`
	}
	c := telnetConfig{Listen: ":4000", Keepalive: 30}
	err := sdk.Config{Raw: map[string]any{"listen": "127.0.0.1:4001"}}.Decode(&c)
	fmt.Println(c, err)

	err = sdk.Config{Raw: map[string]any{"lisen": ":4002"}}.Decode(&c)
	fmt.Println(err)
	// Output:
	// {127.0.0.1:4001 30} <nil>
	// config: unknown key "lisen" (did you mean "listen"?)
}

// TextInput turns a line of client bytes into text input, or into the
// message that refuses it.
func ExampleTextInput() {
	for _, line := range [][]byte{
		[]byte("say hello\x1b[31m"),
		{0xff, 'x'},
		[]byte("a line far too long"),
		{0},
	} {
		text, refusal := sdk.TextInput(line, 16)
		fmt.Printf("%q %q\n", text, refusal)
	}
	// Output:
	// "say hello[31m" ""
	// "" "Your client sent an incorrect UTF-8 sequence."
	// "" "You entered a string that was too long. Please break it up into multiple parts."
	// "idle" ""
}
