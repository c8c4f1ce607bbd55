package main

import (
	"fmt"
	"slices"

	"github.com/portico-mud/portico/core/attrs"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/sdk/contract"
)

// Room is one room, kept in the attribute store as the attribute "room" of
// the owner {Kind: "room", ID: its id}.
type Room struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
	Area string `json:"area"`
	Desc string `json:"desc"`
	// Exits lead from here, by direction ("n", "se", "u" ...), to a room id.
	Exits map[string]int `json:"exits"`
}

// seedRooms is the world the first start writes into the store; from then
// on the store's rooms are the world (an admin's @describe changes them).
var seedRooms = []Room{
	{ID: 1, Name: "Town Square", Area: "Tinyton", Desc: "Cobbles worn smooth by many feet. A well stands in the middle.",
		Exits: map[string]int{"n": 2, "e": 3}},
	{ID: 2, Name: "North Road", Area: "Tinyton", Desc: "The road climbs towards a watchtower.",
		Exits: map[string]int{"s": 1, "u": 4}},
	{ID: 3, Name: "The Tavern", Area: "Tinyton", Desc: "Warm, loud, and smelling of bread.",
		Exits: map[string]int{"w": 1}},
	{ID: 4, Name: "Watchtower Top", Area: "Tinyton", Desc: "Wind, and the whole town below.",
		Exits: map[string]int{"d": 2}},
}

// World attributes: the list of room ids.
const roomsKey = "rooms"

// roomOwner owns a room's attributes.
func roomOwner(id int) attrs.Owner { return attrs.Owner{Kind: "room", ID: int64(id)} }

// positionKey is the character attribute holding its room id.
const positionKey = "room"

// loadWorld reads the rooms from the store, writing the seed rooms first
// when the store has none (the game's first start).
func (g *game) loadWorld(a *attrs.Store) error {
	var ids []int
	ok, err := a.Get(attrs.World(), roomsKey, &ids)
	if err != nil {
		return fmt.Errorf("tiny-game: rooms: %w", err)
	}
	if !ok {
		for _, r := range seedRooms {
			if err := a.Set(roomOwner(r.ID), "room", r); err != nil {
				return fmt.Errorf("tiny-game: seed room %d: %w", r.ID, err)
			}
			ids = append(ids, r.ID)
		}
		if err := a.Set(attrs.World(), roomsKey, ids); err != nil {
			return fmt.Errorf("tiny-game: seed rooms: %w", err)
		}
	}
	g.rooms = map[int]*Room{}
	for _, id := range ids {
		r := &Room{}
		if ok, err := a.Get(roomOwner(id), "room", r); err != nil || !ok {
			return fmt.Errorf("tiny-game: room %d: missing or unreadable (%v)", id, err)
		}
		g.rooms[id] = r
	}
	for _, r := range g.rooms {
		for dir, to := range r.Exits {
			if g.rooms[to] == nil {
				return fmt.Errorf("tiny-game: room %d: exit %s leads to room %d, which does not exist", r.ID, dir, to)
			}
		}
	}
	return nil
}

// saveRoom writes a changed room back to the store.
func (g *game) saveRoom(h *sessions.ServerSessionHandler, r *Room) error {
	return h.Attrs().Set(roomOwner(r.ID), "room", r)
}

// roomOf returns the room s's character is in: its saved position, or the
// start room for a character that has none (or one whose room is gone).
// It is nil for a session that plays no character.
func (g *game) roomOf(s *sessions.ServerSession) *Room {
	if s.Puppet == nil {
		return nil
	}
	var id int
	if _, err := s.Handler().Attrs().Get(attrs.Character(s.Puppet.ID), positionKey, &id); err != nil {
		s.Handler().Log().Error("tiny-game: position", "character", s.Puppet.Name, "err", err)
	}
	if r := g.rooms[id]; r != nil {
		return r
	}
	return g.rooms[g.settings.StartRoom]
}

// moveTo puts s's character in room: saved at once (the store writes it
// off the loop), so it is where the character comes back after a logout.
func (g *game) moveTo(s *sessions.ServerSession, room *Room) error {
	return s.Handler().Attrs().Set(attrs.Character(s.Puppet.ID), positionKey, room.ID)
}

// inRoom returns the sessions whose characters are in room id, oldest
// first; several sessions may play one character.
func (g *game) inRoom(h *sessions.ServerSessionHandler, id int) []*sessions.ServerSession {
	var out []*sessions.ServerSession
	for _, s := range h.Sessions() {
		if s.LoggedIn && s.Puppet != nil {
			if r := g.roomOf(s); r != nil && r.ID == id {
				out = append(out, s)
			}
		}
	}
	return out
}

// tellRoom sends text to everyone in room id but the characters of
// except's session, as one broadcast.
func (g *game) tellRoom(except *sessions.ServerSession, id int, text string) {
	h := except.Handler()
	var to []*sessions.ServerSession
	for _, s := range g.inRoom(h, id) {
		if except.Puppet == nil || s.Puppet.ID != except.Puppet.ID {
			to = append(to, s)
		}
	}
	h.Broadcast(to, contract.Text(text))
}

// describe is what look shows of room to s.
func (g *game) describe(s *sessions.ServerSession, room *Room) string {
	var others []string
	for _, o := range g.inRoom(s.Handler(), room.ID) {
		if o.Puppet.ID != s.Puppet.ID && !slices.Contains(others, o.Puppet.Name) {
			others = append(others, o.Puppet.Name)
		}
	}
	here := "You are alone here."
	if len(others) > 0 {
		here = "Here: " + joinAnd(others) + "."
	}
	return fmt.Sprintf("%s\n%s\nExits: %s.\n%s", room.Name, room.Desc, exitList(room), here)
}

// sendRoomInfo sends the GMCP Room.Info of room, in the shape Mudlet's
// mapper reads: num, name, area and exits {direction: room number}. The
// outputfunc room_info is GMCP's Room.Info (sdk/gmcp); a client without
// GMCP does not get it, and a websocket client gets it as a JSON message.
func (g *game) sendRoomInfo(s *sessions.ServerSession, room *Room) {
	exits := map[string]any{}
	for dir, to := range room.Exits {
		exits[dir] = to
	}
	s.Send(contract.Message{Name: "room_info", Kwargs: map[string]any{
		"num": room.ID, "name": room.Name, "area": room.Area, "exits": exits,
	}})
}
