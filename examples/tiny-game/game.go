package main

import (
	"fmt"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/core/sessions"
)

// Settings are the game's own keys, the game: block of config.yaml (or
// PORTICO_GAME_<KEY> variables). The values newGame gives are the
// defaults.
type Settings struct {
	// StartRoom is where a new character begins.
	StartRoom int `mapstructure:"start_room"`
	// Welcome is the first line of the connection screen.
	Welcome string `mapstructure:"welcome"`
}

// Validate is run by the host once the block is decoded.
func (s *Settings) Validate() error {
	if s.StartRoom < 1 {
		return config.Problem{Key: "game.start_room", Msg: fmt.Sprintf("want a room number, 1 or more, got %d", s.StartRoom)}
	}
	return nil
}

// game is the game's state: its settings and the rooms, loaded from the
// attribute store when the host starts. Game code runs on the host's
// loop, one piece at a time, so none of it needs a lock.
type game struct {
	settings Settings
	rooms    map[int]*Room
}

func newGame() *game {
	return &game{settings: Settings{StartRoom: 1, Welcome: "Welcome to the Tiny Game!"}, rooms: map[int]*Room{}}
}

// options is the whole game, as the host takes it.
func (g *game) options() []host.Option {
	return []host.Option{
		host.WithGameConfig(&g.settings),
		host.OnStart(g.start),
		host.OnLogin(g.arrive),
		host.OnDisconnect(g.depart),
		host.WithConnectScreen(g.connectScreen),
		host.WithCommands(g.commands()),
	}
}

// connectScreen is what a new connection sees.
func (g *game) connectScreen(*sessions.ServerSession) string {
	return g.settings.Welcome + `

 Create a character:  create <name> <password>
 Come back:           connect <name> <password>

 Then: look, north (or n), go east, say hello, emote waves, help.`
}

// start runs each time the host (re)starts, before anyone is connected:
// it seeds the world the first time, and loads it.
func (g *game) start(h *sessions.ServerSessionHandler) error {
	if err := g.loadWorld(h.Attrs()); err != nil {
		return err
	}
	if g.rooms[g.settings.StartRoom] == nil {
		return fmt.Errorf("tiny-game: game.start_room %d is no room", g.settings.StartRoom)
	}
	h.Log().Info("tiny-game: world loaded", "rooms", len(g.rooms))
	return nil
}

// arrive places a character that logs in where it was (a new one in the
// start room), tells the room, and sends the client the room for its
// mapper. The host shows the room (look) right after.
func (g *game) arrive(s *sessions.ServerSession) {
	room := g.roomOf(s)
	if room == nil {
		return
	}
	g.tellRoom(s, room.ID, s.Puppet.Name+" has arrived.")
	g.sendRoomInfo(s, room)
}

// depart tells the room that a character left the game, once its last
// session is gone.
func (g *game) depart(s *sessions.ServerSession, _ string) {
	if !s.LoggedIn || s.Puppet == nil || len(s.Handler().SessionsFromPuppet(s.Puppet.ID)) > 0 {
		return
	}
	if room := g.roomOf(s); room != nil {
		g.tellRoom(s, room.ID, s.Puppet.Name+" has left the game.")
	}
}
