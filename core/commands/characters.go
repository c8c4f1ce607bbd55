package commands

import (
	"errors"
	"fmt"
	"strings"

	"github.com/portico-mud/portico/core/store"
)

// characterCommands let an account have several characters and choose
// which one a session acts (Evennia's charcreate, ic, ooc): what the
// multisession modes 2 and 3 are for. In modes 0 and 1 an account has its
// one character, played on login, so help lists these three only in modes
// 2 and 3 (they still answer when typed, as in Evennia).
func characterCommands() []*Command {
	severalCharacters := []int{2, 3}
	return []*Command{
		{Key: "charcreate", Modes: severalCharacters, Help: "charcreate <name>\n\nCreate another character (multisession modes 2 and 3).", Func: cmdCharCreate},
		{Key: "ic", Aliases: []string{"puppet"}, Modes: severalCharacters, Help: "ic <character>\n\nPlay one of your characters.", Func: cmdIC},
		{Key: "ooc", Aliases: []string{"unpuppet"}, Modes: severalCharacters, Help: "ooc\n\nStop playing your character (go out-of-character).", Func: cmdOOC},
		{Key: "chars", Aliases: []string{"characters"}, Help: "chars\n\nList your characters and which of your sessions play them.", Func: cmdChars},
	}
}

func cmdCharCreate(c *Call) {
	if mode := c.H.Settings().MultisessionMode; mode < 2 {
		c.Msg("You may only have one character on this server.")
		return
	}
	name := strings.TrimSpace(c.Args)
	if name == "" {
		c.Msg("Usage: charcreate <name>")
		return
	}
	if reservedName(name) {
		c.Msg(fmt.Sprintf("The name '%s' is reserved. Please choose another.", name))
		return
	}
	ch, err := c.H.Store().CreateCharacter(c.H.Context(), c.S.Account.ID, name)
	if err != nil {
		if errors.Is(err, store.ErrNameTaken) {
			c.Msg(fmt.Sprintf("Sorry, the name '%s' is taken.", name))
			return
		}
		c.Msg(userError(err))
		return
	}
	c.Msg(fmt.Sprintf("Created new character %s. Use ic %s to enter the game as this character.", ch.Name, ch.Name))
}

func cmdIC(c *Call) {
	name := strings.TrimSpace(c.Args)
	chars, err := c.H.Store().CharactersOf(c.H.Context(), c.S.Account.ID)
	if err != nil {
		c.H.Log().Error("list characters", "err", err)
		c.Msg("That did not work. Please try again later.")
		return
	}
	var target *store.Character
	for i := range chars {
		if strings.EqualFold(chars[i].Name, name) || (name == "" && len(chars) == 1) {
			target = &chars[i]
		}
	}
	if target == nil {
		c.Msg("That is not a valid character choice.")
		return
	}
	msg, err := c.H.Puppet(c.S, *target)
	if err != nil {
		c.Msg(err.Error())
		return
	}
	c.Msg(msg)
}

func cmdOOC(c *Call) {
	if !c.H.Unpuppet(c.S) {
		c.Msg("You go OOC... but you already are.")
		return
	}
	c.Msg("You go OOC.")
}

func cmdChars(c *Call) {
	chars, err := c.H.Store().CharactersOf(c.H.Context(), c.S.Account.ID)
	if err != nil {
		c.H.Log().Error("list characters", "err", err)
		c.Msg("That did not work. Please try again later.")
		return
	}
	var rows [][]string
	for _, ch := range chars {
		var ids []string
		for _, s := range c.H.SessionsFromPuppet(ch.ID) {
			ids = append(ids, fmt.Sprint(s.Sessid))
		}
		played := "-"
		if len(ids) > 0 {
			played = "session " + strings.Join(ids, ", ")
		}
		rows = append(rows, []string{ch.Name, played})
	}
	c.Msg("Your characters:\n" + table([]string{"Character", "Played by"}, rows))
}
