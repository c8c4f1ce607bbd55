package hosttest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/commands"
	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/core/host/hosttest"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/sdk/leakcheck"
)

// TestMain fails the run when a game's goroutines outlive it.
func TestMain(m *testing.M) { leakcheck.Main(m) }

// Start runs a game's options in-process; players type commands and read
// the answers at once.
func ExampleStart() {
	roll := &commands.Command{Key: "roll", Help: "roll\n\nRoll a die that always shows four.",
		Func: func(c *commands.Call) { c.Msg(c.S.Puppet.Name + " rolls a 4.") }}
	g, err := hosttest.Start(host.WithCommand(roll))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	alice, _ := g.Login("alice")
	bob, _ := g.Login("bob")
	alice.Output()
	bob.Output()
	fmt.Println(alice.Command("roll"))
	fmt.Println(bob.Command("say hi"))
	fmt.Println(alice.Output())
	// Output:
	// alice rolls a 4.
	// You say, "hi"
	// bob says, "hi"
}

// Do runs a function as game code, on the loop: here it starts a timer
// (Every), which runs there too, until it stops itself.
func ExampleGame_Do() {
	g, _ := hosttest.Start()
	defer g.Close()
	ticks := make(chan int, 1)
	g.Do(func() {
		n := 0
		var t *sessions.Timer
		t = g.Handler().Every(10*time.Millisecond, func() {
			n++
			if n == 3 {
				t.Stop()
				ticks <- n
			}
		})
	})
	fmt.Println("ticked", <-ticks, "times")
	// Output: ticked 3 times
}

// TestPlayers: what a player is sent is the player's alone, a Quit ends
// its session for the others, and a session the host ends says why.
func TestPlayers(t *testing.T) {
	g := hosttest.New(t)
	alice, err := g.Login("alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := g.Login("bob")
	if err != nil {
		t.Fatal(err)
	}
	alice.Output()
	bob.Output()
	alice.Command("say hello")
	if out := bob.Output(); out != `alice says, "hello"` {
		t.Errorf("bob heard %q", out)
	}
	if out := bob.Output(); out != "" {
		t.Errorf("read twice: %q", out)
	}
	bob.Quit()
	if out := alice.Command("who"); !strings.Contains(out, "1 unique account logged in.") {
		t.Errorf("who after bob quit: %q", out)
	}
	alice.Command("quit")
	if gone, reason := alice.Disconnected(); !gone || reason != "" {
		t.Errorf("after quit: %v %q", gone, reason)
	}
	if _, err := g.Login("alice"); err == nil {
		t.Error("a second account called alice was made")
	}
	back, err := g.LoginAccount("alice")
	if err != nil {
		t.Fatal(err)
	}
	if out := back.Output(); !strings.Contains(out, "You become alice.") {
		t.Errorf("alice back: %q", out)
	}
	if _, err := g.CreateAccount("root", true); err != nil {
		t.Fatal(err)
	}
	root, err := g.LoginAccount("root")
	if err != nil {
		t.Fatal(err)
	}
	if out := root.Command("help @boot"); !strings.Contains(out, "Help for @boot") {
		t.Errorf("an admin's help: %q", out)
	}
}
