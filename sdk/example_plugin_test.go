package sdk_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/markup"
)

// shoutPlugin is a whole protocol plugin, if a useless one: its clients'
// output is shouted. A real plugin listens in Configure and makes a session
// for each client it accepts (see examples/echo-protocol).
type shoutPlugin struct {
	greeting string
	portal   *sdk.Portal
}

// Configure reads the plugin's config block and would start listening.
func (p *shoutPlugin) Configure(ctx context.Context, cfg sdk.Config, portal *sdk.Portal) (sdk.Info, error) {
	c := struct {
		Greeting string `json:"greeting"`
	}{Greeting: "hello"}
	if err := cfg.Decode(&c); err != nil {
		return sdk.Info{}, fmt.Errorf("shout: %w", err)
	}
	p.greeting, p.portal = c.Greeting, portal
	return sdk.Info{ProtocolKey: "shout"}, nil
}

// Shutdown would stop listening; the SDK has closed the sessions already.
func (p *shoutPlugin) Shutdown(ctx context.Context) error { return nil }

// shoutConn is one client connection. Send renders output for the client;
// here it prints it.
type shoutConn struct{}

func (shoutConn) Send(_ *sdk.Session, msgs []sdk.Message) {
	for _, m := range msgs {
		if text, ok := m.FirstString(); ok {
			fmt.Println(strings.ToUpper(markup.Strip(text)))
		}
	}
}

func (shoutConn) Close(reason string) { fmt.Println("closed:", reason) }

// Example_plugin drives a plugin through a test portal, as its unit tests
// would. In the plugin's main it is only:
//
//	func main() { sdk.Serve(&shoutPlugin{}) }
func Example_plugin() {
	ctx := context.Background()
	p := &shoutPlugin{}
	portal := sdk.NewTestPortal(slog.New(slog.DiscardHandler))
	info, err := p.Configure(ctx, sdk.Config{Raw: map[string]any{"greeting": "|rwelcome|n"}}, portal)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("protocol:", info.ProtocolKey)

	// A client connects: a session, announced to the host, then input.
	sess, err := portal.NewSession(ctx, shoutConn{}, info.ProtocolKey, "192.0.2.7:50000")
	if err != nil {
		fmt.Println(err)
		return
	}
	sess.Connect()
	sess.Conn().Send(sess, []sdk.Message{sdk.Text(p.greeting)})
	sess.DataIn(sdk.Text("look"))
	fmt.Println("events queued for the host:", portal.Outbox().Len())

	// The plugin ends the session (the host is told) and closes the client.
	portal.Disconnect(sess, "Goodbye!")
	// Output:
	// protocol: shout
	// WELCOME
	// events queued for the host: 2
	// closed: Goodbye!
}
