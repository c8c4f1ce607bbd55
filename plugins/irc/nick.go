package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// rfcNickLen is the nick length every server accepts (RFC 2812: nine
// characters; ngIRCd's default NICKLEN). A longer configured nick that the
// server refuses is cut to it.
const rfcNickLen = 9

// Getting the wanted nick back. When the bot registered with an
// alternative (nick_, nick1 ...), it watches for the wanted nick to come
// free and takes it at once: with MONITOR when the server offers it
// (IRCv3: 731 says the nick went offline), else by asking ISON every
// isonInterval; and whenever it sees the holder QUIT or change nick. The
// old way, asking again when the connection went quiet, stays as the last
// resort.

// onISupport reads the server's RPL_ISUPPORT (005) tokens the bot uses:
// NICKLEN (a wanted nick longer than it is cut to fit) and MONITOR.
func (c *ircConn) onISupport(m ircmsg.Message) {
	if len(m.Params) < 3 {
		return
	}
	for _, tok := range m.Params[1 : len(m.Params)-1] {
		name, value, _ := strings.Cut(tok, "=")
		switch strings.ToUpper(name) {
		case "NICKLEN":
			if n, err := strconv.Atoi(value); err == nil && n > 0 {
				c.nickLen = n
				if len(c.want) > n {
					c.b.log.Info("irc: nick longer than the server's NICKLEN; shortened", "nick", c.want, "nicklen", n)
					c.want = c.want[:n]
				}
			}
		case "MONITOR":
			c.monitor = true
		}
	}
}

// startRegain starts watching for the wanted nick, once registration is
// over (end of MOTD), if the bot has another.
func (c *ircConn) startRegain() {
	if c.watching || fold(c.nick) == fold(c.want) {
		return
	}
	c.watching = true
	c.needNick.Store(true)
	c.b.log.Info("irc: watching for the wanted nick", "nick", c.want, "have", c.nick, "monitor", c.monitor)
	if c.monitor {
		c.send("MONITOR + " + c.want)
		return
	}
	c.pollISON(c.want)
}

// pollISON asks ISON for want every isonInterval while the bot lacks it.
// It runs on a timer's goroutine: it reads only needNick, which the
// reading goroutine sets.
func (c *ircConn) pollISON(want string) {
	c.timersMu.Lock()
	defer c.timersMu.Unlock()
	if c.closed {
		return
	}
	c.isonTimer = time.AfterFunc(c.b.t.isonInterval, func() {
		if !c.needNick.Load() {
			return
		}
		c.send("ISON " + want)
		c.pollISON(want)
	})
}

// takeNick asks for the wanted nick, which seems free.
func (c *ircConn) takeNick(why string) {
	if fold(c.nick) == fold(c.want) {
		return
	}
	c.b.log.Info("irc: the wanted nick is free; taking it", "nick", c.want, "seen", why)
	c.send("NICK " + c.want)
}

// onNickChange follows a NICK line: the bot's own (the server took its
// change) or another user's (the holder of the wanted nick moved off it).
func (c *ircConn) onNickChange(m ircmsg.Message) {
	if len(m.Params) == 0 {
		return
	}
	switch {
	case fold(m.Nick()) == fold(c.nick):
		c.nick = m.Params[0]
		c.b.setNick(c.nick)
		if fold(c.nick) == fold(c.want) && c.watching {
			c.b.log.Info("irc: got the wanted nick back", "nick", c.nick)
			c.watching = false
			c.needNick.Store(false)
			if c.monitor {
				c.send("MONITOR - " + c.want)
			}
		}
	case c.watching && fold(m.Nick()) == fold(c.want):
		c.takeNick("NICK")
	}
}

// onQuit follows a QUIT: the holder of the wanted nick left.
func (c *ircConn) onQuit(m ircmsg.Message) {
	if c.watching && fold(m.Nick()) == fold(c.want) {
		c.takeNick("QUIT")
	}
}

// onMonOffline reads RPL_MONOFFLINE (731): the watched nick went offline.
func (c *ircConn) onMonOffline(m ircmsg.Message) {
	for target := range strings.SplitSeq(lastParam(m), ",") {
		nick, _, _ := strings.Cut(target, "!")
		if c.watching && fold(nick) == fold(c.want) {
			c.takeNick("MONITOR")
		}
	}
}

// onISON reads RPL_ISON (303): the nicks asked for that are online.
func (c *ircConn) onISON(m ircmsg.Message) {
	if !c.watching {
		return
	}
	for _, nick := range strings.Fields(lastParam(m)) {
		if fold(nick) == fold(c.want) {
			return
		}
	}
	c.takeNick("ISON")
}
