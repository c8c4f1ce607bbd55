package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/portico-mud/portico/core/commands"
	"github.com/portico-mud/portico/core/sessions"
)

// directions are the exits a room may have: the short name Room.Exits
// and GMCP use, the long name, and the opposite direction.
var directions = []struct{ short, long, opposite string }{
	{"n", "north", "s"}, {"s", "south", "n"}, {"e", "east", "w"}, {"w", "west", "e"},
	{"ne", "northeast", "sw"}, {"nw", "northwest", "se"}, {"se", "southeast", "nw"}, {"sw", "southwest", "ne"},
	{"u", "up", "d"}, {"d", "down", "u"},
}

// direction finds a direction by its short or long name.
func direction(name string) (short, long, opposite string, ok bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	for _, d := range directions {
		if name == d.short || name == d.long {
			return d.short, d.long, d.opposite, true
		}
	}
	return "", "", "", false
}

// commands are the game's commands, for logged-in players. look and say
// replace the defaults of the same keys; the other defaults (who, help,
// quit, channels ...) stay.
func (g *game) commands() *commands.Set {
	set := commands.NewSet(sessions.CmdsetAccount,
		&commands.Command{Key: "look", Aliases: []string{"l"}, Help: "look\n\nLook at the room: its exits, and who is here.", Func: g.cmdLook},
		&commands.Command{Key: "go", Help: "go <direction>\n\nWalk through an exit: go north, go n.", Func: g.cmdGo},
		&commands.Command{Key: "say", Aliases: []string{`"`, "'"}, Help: "say <message>\n\nSay something to everyone in the room.", Func: g.cmdSay},
		&commands.Command{Key: "emote", Aliases: []string{"pose"}, Help: "emote <action>\n\nAct: emote waves shows \"alice waves.\" to the room.", Func: g.cmdEmote},
		&commands.Command{Key: "@describe", Aliases: []string{"@desc"}, Admin: true,
			Help: "@describe <text>\n\nChange the description of the room you are in (kept in the store).", Func: g.cmdDescribe},
	)
	// Every direction is a command of its own (north, n ...): bare
	// directions are how players move.
	for _, d := range directions {
		set.Add(&commands.Command{Key: d.long, Aliases: []string{d.short},
			Help: d.long + "\n\nWalk " + d.long + ", if there is an exit.",
			Func: func(c *commands.Call) { g.walk(c, d.short) }})
	}
	return set
}

// here returns the caller's room, or tells them why there is none.
func (g *game) here(c *commands.Call) *Room {
	room := g.roomOf(c.S)
	if room == nil {
		c.Msg("You are out of character: play a character first (ic <name>).")
	}
	return room
}

func (g *game) cmdLook(c *commands.Call) {
	if room := g.here(c); room != nil {
		c.Msg(g.describe(c.S, room))
	}
}

func (g *game) cmdGo(c *commands.Call) {
	short, _, _, ok := direction(c.Args)
	if !ok {
		c.Msg("Go where? Try go north, or just n.")
		return
	}
	g.walk(c, short)
}

// walk moves the caller's character through the exit dir: the old room
// sees it leave, the new one arrive, and the walker sees the new room and
// gets its Room.Info.
func (g *game) walk(c *commands.Call, dir string) {
	room := g.here(c)
	if room == nil {
		return
	}
	_, long, opposite, _ := direction(dir)
	to, ok := room.Exits[dir]
	if !ok {
		c.Msg("You cannot go " + long + " from here.")
		return
	}
	next := g.rooms[to]
	if err := g.moveTo(c.S, next); err != nil {
		c.H.Log().Error("tiny-game: move", "character", c.S.Puppet.Name, "err", err)
		c.Msg("Something holds you back. Try again.")
		return
	}
	name := c.S.Puppet.Name
	g.tellRoom(c.S, room.ID, fmt.Sprintf("%s leaves %s.", name, long))
	_, from, _, _ := direction(opposite)
	g.tellRoom(c.S, next.ID, fmt.Sprintf("%s arrives from the %s.", name, from))
	// Every session playing this character moves with it.
	for _, s := range c.H.SessionsFromPuppet(c.S.Puppet.ID) {
		s.Msg(g.describe(s, next))
		g.sendRoomInfo(s, next)
	}
}

func (g *game) cmdSay(c *commands.Call) {
	room := g.here(c)
	if room == nil {
		return
	}
	if c.Args == "" {
		c.Msg("Say what?")
		return
	}
	c.Msg(fmt.Sprintf(`You say, "%s"`, c.Args))
	g.tellRoom(c.S, room.ID, fmt.Sprintf(`%s says, "%s"`, c.S.Puppet.Name, c.Args))
}

func (g *game) cmdEmote(c *commands.Call) {
	room := g.here(c)
	if room == nil {
		return
	}
	if c.Args == "" {
		c.Msg("Emote what? Try emote waves.")
		return
	}
	line := c.S.Puppet.Name + " " + strings.TrimRight(c.Args, ".") + "."
	c.Msg(line)
	g.tellRoom(c.S, room.ID, line)
}

func (g *game) cmdDescribe(c *commands.Call) {
	room := g.here(c)
	if room == nil {
		return
	}
	if c.Args == "" {
		c.Msg("Usage: @describe <text>")
		return
	}
	old := room.Desc
	room.Desc = c.Args
	if err := g.saveRoom(c.H, room); err != nil {
		room.Desc = old
		c.Msg("The room could not be changed: " + err.Error())
		return
	}
	c.Msg("The room's description is now: " + room.Desc)
}

// exitList names a room's exits, in the order of directions.
func exitList(r *Room) string {
	var out []string
	for _, d := range directions {
		if _, ok := r.Exits[d.short]; ok {
			out = append(out, d.long)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// joinAnd joins names as English does: "a", "a and b", "a, b and c".
func joinAnd(names []string) string {
	names = slices.Clone(names)
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
