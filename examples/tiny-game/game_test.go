package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/host/hosttest"
)

// The game's own tests run it in-process with hosttest: players type
// commands and read the answers at once, with no plugin and no network.
// e2e_test.go runs the real binaries.

// login logs a new character in and drops the login's output.
func login(t *testing.T, g *hosttest.Game, name string) *hosttest.Player {
	t.Helper()
	p, err := g.Login(name)
	if err != nil {
		t.Fatal(err)
	}
	p.Output()
	p.OOB()
	return p
}

// lastRoomInfo returns the last GMCP Room.Info p was sent.
func lastRoomInfo(t *testing.T, p *hosttest.Player) map[string]any {
	t.Helper()
	var last map[string]any
	for _, m := range p.OOB() {
		if m.Name == "room_info" {
			last = m.Kwargs
		}
	}
	if last == nil {
		t.Fatal("no Room.Info was sent")
	}
	return last
}

func TestWalkAndLook(t *testing.T) {
	g := hosttest.New(t, newGame().options()...)
	alice := login(t, g, "alice")
	bob := login(t, g, "bob")
	alice.Output()
	if out := alice.Command("look"); out != "Town Square\nCobbles worn smooth by many feet. A well stands in the middle.\nExits: north, east.\nHere: bob." {
		t.Errorf("look: %q", out)
	}
	out := alice.Command("n")
	if !strings.HasPrefix(out, "North Road\n") || !strings.HasSuffix(out, "Exits: south, up.\nYou are alone here.") {
		t.Errorf("after n: %q", out)
	}
	info := lastRoomInfo(t, alice)
	exits, _ := info["exits"].(map[string]any)
	if info["num"] != int64(2) || info["name"] != "North Road" || info["area"] != "Tinyton" ||
		exits["s"] != int64(1) || exits["u"] != int64(4) || len(exits) != 2 {
		t.Errorf("Room.Info: %v", info)
	}
	if out := bob.Output(); out != "alice leaves north." {
		t.Errorf("bob saw %q", out)
	}
	if out := alice.Command("go up"); !strings.HasPrefix(out, "Watchtower Top\n") {
		t.Errorf("go up: %q", out)
	}
	if out := alice.Command("west"); out != "You cannot go west from here." {
		t.Errorf("west: %q", out)
	}
	if out := alice.Command("go nowhere"); out != "Go where? Try go north, or just n." {
		t.Errorf("go nowhere: %q", out)
	}
	alice.Command("d")
	alice.Command("s")
	if out := bob.Output(); out != "alice arrives from the north." {
		t.Errorf("bob saw %q", out)
	}
}

func TestSayAndEmoteStayInTheRoom(t *testing.T) {
	g := hosttest.New(t, newGame().options()...)
	alice, bob, carol := login(t, g, "alice"), login(t, g, "bob"), login(t, g, "carol")
	alice.Command("east")
	bob.Output()
	carol.Output()
	if out := bob.Command("say anyone here?"); out != `You say, "anyone here?"` {
		t.Errorf("bob: %q", out)
	}
	if out := carol.Output(); out != `bob says, "anyone here?"` {
		t.Errorf("carol heard %q", out)
	}
	if out := alice.Output(); out != "" {
		t.Errorf("alice, in the tavern, heard %q", out)
	}
	if out := alice.Command("emote raises a mug."); out != "alice raises a mug." {
		t.Errorf("alice's emote: %q", out)
	}
	if bo, co := bob.Output(), carol.Output(); bo != "" || co != "" {
		t.Errorf("the square saw %q and %q", bo, co)
	}
	carol.Command("e")
	alice.Output()
	carol.Command("pose waves")
	if out := alice.Output(); out != "carol waves." {
		t.Errorf("alice saw %q", out)
	}
}

// TestPositionKeptAcrossLogout: a character comes back where it was, and
// the room it left is told.
func TestPositionKeptAcrossLogout(t *testing.T) {
	g := hosttest.New(t, newGame().options()...)
	alice, bob := login(t, g, "alice"), login(t, g, "bob")
	alice.Command("e")
	bob.Command("e")
	alice.Output()
	bob.Command("quit")
	if out := alice.Output(); out != "bob has left the game." {
		t.Errorf("alice saw %q", out)
	}
	back, err := g.LoginAccount("bob")
	if err != nil {
		t.Fatal(err)
	}
	if out := back.Output(); !strings.Contains(out, "The Tavern\nWarm, loud") || !strings.Contains(out, "Here: alice.") {
		t.Errorf("bob back: %q", out)
	}
	if info := lastRoomInfo(t, back); info["num"] != int64(3) {
		t.Errorf("Room.Info on login: %v", info)
	}
	if out := alice.Output(); out != "bob has arrived." {
		t.Errorf("alice saw %q", out)
	}
}

// TestWorldInTheStore: the rooms are seeded into the attribute store, and
// an admin's @describe changes the stored room.
func TestWorldInTheStore(t *testing.T) {
	g := hosttest.New(t, newGame().options()...)
	if _, err := g.CreateAccount("root", true); err != nil {
		t.Fatal(err)
	}
	root, err := g.LoginAccount("root")
	if err != nil {
		t.Fatal(err)
	}
	root.Output()
	if out := root.Command("@describe A quiet square."); out != "The room's description is now: A quiet square." {
		t.Errorf("@describe: %q", out)
	}
	alice := login(t, g, "alice")
	if out := alice.Command("look"); !strings.Contains(out, "\nA quiet square.\n") {
		t.Errorf("look after @describe: %q", out)
	}
	if out := alice.Command("@describe mine now"); !strings.Contains(out, "not available") {
		t.Errorf("a player's @describe: %q", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Handler().Attrs().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := g.Store().Attributes(ctx, "room", 1)
	if err != nil || !strings.Contains(rows["room"], `"desc":"A quiet square."`) {
		t.Errorf("room 1 in the database: %v %v", rows, err)
	}
	if rows, err := g.Store().Attributes(ctx, "world", 0); err != nil || rows["rooms"] != "[1,2,3,4]" {
		t.Errorf("the world in the database: %v %v", rows, err)
	}
}

// TestSettingsChecked: a start room that is not a room stops the game
// from starting, and Validate refuses a number that cannot be one.
func TestSettingsChecked(t *testing.T) {
	tg := newGame()
	tg.settings.StartRoom = 99
	if g, err := hosttest.Start(tg.options()...); err == nil {
		g.Close()
		t.Fatal("started with start_room 99")
	} else if !strings.Contains(err.Error(), "game.start_room 99 is no room") {
		t.Errorf("start: %v", err)
	}
	if err := (&Settings{StartRoom: 0}).Validate(); err == nil || !strings.Contains(err.Error(), "game.start_room: want a room number") {
		t.Errorf("Validate: %v", err)
	}
	tg = newGame()
	tg.settings.StartRoom = 3
	g := hosttest.New(t, tg.options()...)
	p, err := g.Login("dora")
	if err != nil {
		t.Fatal(err)
	}
	if out := p.Output(); !strings.Contains(out, "The Tavern") {
		t.Errorf("a new character in start room 3: %q", out)
	}
}

// TestConnectScreen: a new connection sees the game's welcome.
func TestConnectScreen(t *testing.T) {
	g := hosttest.New(t, newGame().options()...)
	if out := g.Connect().Output(); !strings.HasPrefix(out, "Welcome to the Tiny Game!\n") {
		t.Errorf("connect screen: %q", out)
	}
}

// TestShippedConfig: the config.yaml beside the game loads, and its game:
// block decodes into the game's settings.
func TestShippedConfig(t *testing.T) {
	c, err := config.Load("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tg := newGame()
	tg.settings = Settings{}
	if err := config.DecodeGame(c, &tg.settings); err != nil {
		t.Fatal(err)
	}
	if tg.settings.StartRoom != 1 || tg.settings.Welcome != "Welcome to the Tiny Game!" {
		t.Errorf("settings %+v", tg.settings)
	}
	if p := c.Plugins["telnet"]; !p.Enabled || p.Config["listen"] != ":4000" {
		t.Errorf("telnet block %+v", p)
	}
}
