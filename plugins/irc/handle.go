package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircutils"
	"github.com/portico-mud/portico/sdk"
)

// ctcpVersion is the bot's answer to CTCP VERSION.
const ctcpVersion = "Portico IRC bot"

// handle runs the protocol for one line from the server. An error ends
// the connection.
func (c *ircConn) handle(m ircmsg.Message) error {
	switch m.Command {
	case "PING":
		if len(m.Params) > 0 {
			c.send("PONG :" + m.Params[len(m.Params)-1])
		} else {
			c.send("PONG")
		}
	case "ERROR":
		c.serverErr = lastParam(m)
	case "CAP":
		return c.onCap(m)
	case "AUTHENTICATE":
		if len(m.Params) > 0 && m.Params[0] == "+" {
			resp := "\x00" + c.b.cfg.SASLUser + "\x00" + c.b.cfg.SASLPassword
			for _, chunk := range ircutils.EncodeSASLResponse([]byte(resp)) {
				c.send("AUTHENTICATE " + chunk)
			}
		}
	case "903", "907": // RPL_SASLSUCCESS, ERR_SASLALREADY
		c.saslDone = true
		c.send("CAP END")
	case "902", "904", "905", "906", "908": // nick locked, fail, too long, aborted, mechs
		return &saslError{reason: m.Command + " " + lastParam(m)}
	case "421": // ERR_UNKNOWNCOMMAND
		if len(m.Params) > 1 && strings.EqualFold(m.Params[1], "CAP") && c.wantSASL() {
			return &saslError{reason: "the server does not support capability negotiation"}
		}
	case "001":
		return c.onWelcome(m)
	case "432": // ERR_ERRONEUSNICKNAME
		return c.onBadNick(m)
	case "433", "436", "437": // nick in use, collision, unavailable
		return c.onNickInUse()
	case "005": // RPL_ISUPPORT
		c.onISupport(m)
	case "376", "422": // end of MOTD, no MOTD: registration is over
		c.startRegain()
	case "731": // RPL_MONOFFLINE
		c.onMonOffline(m)
	case "303": // RPL_ISON
		c.onISON(m)
	case "NICK":
		c.onNickChange(m)
	case "QUIT":
		c.onQuit(m)
	case "JOIN":
		if fold(m.Nick()) == fold(c.nick) && len(m.Params) > 0 && fold(m.Params[0]) == fold(c.b.cfg.Channel) {
			// The server shows the bot its own prefix here, as others
			// will see it: long lines are split to fit behind it.
			if i := strings.IndexByte(m.Source, '!'); i >= 0 {
				c.b.setHostLen(len(m.Source) - i)
			}
			c.setJoined(true)
			c.b.setState(stateConnected, "")
		}
	case "KICK":
		if len(m.Params) > 1 && fold(m.Params[0]) == fold(c.b.cfg.Channel) && fold(m.Params[1]) == fold(c.nick) {
			c.setJoined(false)
			c.b.setState(stateRejoining, fmt.Sprintf("kicked from %s by %s: %s", c.b.cfg.Channel, m.Nick(), lastParam(m)))
			c.after(c.b.t.rejoinDelay, c.join)
		}
	case "403", "405", "471", "473", "474", "475", "477": // cannot join
		if len(m.Params) > 1 && fold(m.Params[1]) == fold(c.b.cfg.Channel) {
			c.b.setState(stateRejoining, fmt.Sprintf("cannot join %s: %s %s", c.b.cfg.Channel, m.Command, lastParam(m)))
			c.after(c.b.t.joinRetry, c.join)
		}
	case "PRIVMSG":
		c.onPrivmsg(m)
	}
	// NOTICEs are never answered (RFC 1459), and are not relayed: they
	// are services and server chatter, not conversation.
	return nil
}

func (c *ircConn) join() { c.send("JOIN " + c.b.cfg.Channel) }

func lastParam(m ircmsg.Message) string {
	if len(m.Params) == 0 {
		return ""
	}
	return m.Params[len(m.Params)-1]
}

// onCap runs the SASL capability negotiation: LS (perhaps over several
// lines), REQ sasl, ACK, then AUTHENTICATE PLAIN.
func (c *ircConn) onCap(m ircmsg.Message) error {
	if len(m.Params) < 3 || !c.wantSASL() || c.saslDone {
		return nil
	}
	switch strings.ToUpper(m.Params[1]) {
	case "LS":
		more := len(m.Params) > 3 && m.Params[2] == "*"
		c.capLS = append(c.capLS, strings.Fields(lastParam(m))...)
		if more {
			return nil
		}
		for _, capability := range c.capLS {
			name, mechs, hasMechs := strings.Cut(capability, "=")
			if name != "sasl" {
				continue
			}
			if hasMechs && !containsFold(strings.Split(mechs, ","), "PLAIN") {
				return &saslError{reason: "the server does not offer PLAIN (it offers " + mechs + ")"}
			}
			c.send("CAP REQ :sasl")
			return nil
		}
		return &saslError{reason: "the server does not offer SASL"}
	case "ACK":
		if containsFold(strings.Fields(lastParam(m)), "sasl") {
			c.send("AUTHENTICATE PLAIN")
		}
	case "NAK":
		return &saslError{reason: "the server refused the sasl capability"}
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// onWelcome: registered. The nick the server gives is the bot's; it
// joins its channel.
func (c *ircConn) onWelcome(m ircmsg.Message) error {
	if c.wantSASL() && !c.saslDone {
		return &saslError{reason: "the server registered the bot without SASL"}
	}
	c.registered, c.registeredAt = true, time.Now()
	if len(m.Params) > 0 {
		c.nick = m.Params[0]
	}
	c.b.setNick(c.nick)
	c.b.log.Info("irc: registered", "nick", c.nick)
	c.join()
	return nil
}

// onNickInUse tries the next alternative nick during registration (after
// it, the bot keeps the nick it has and regainNick tries again later).
func (c *ircConn) onNickInUse() error {
	if c.registered {
		return nil
	}
	c.nickTry++
	if c.nickTry > maxNickTries {
		return fmt.Errorf("irc: nick %s and %d alternatives are in use", c.want, maxNickTries)
	}
	c.nick = altNick(c.want, c.nickTry, c.nickMax)
	c.b.setNick(c.nick)
	c.send("NICK " + c.nick)
	return nil
}

// onBadNick: the server refused a nick's form. For the configured nick
// longer than nine characters (RFC 2812's length, ngIRCd's default
// NICKLEN) it means the server's nicks are shorter: the nick is cut to
// nine and wanted so. For a shorter configured nick it is a config error
// (reported, retried with backoff); for an alternative it means the
// server's nicks are shorter still, so the alternative is shortened to fit.
func (c *ircConn) onBadNick(m ircmsg.Message) error {
	if c.registered {
		return nil
	}
	if c.nickTry == 0 && len(c.want) > rfcNickLen {
		c.b.log.Info("irc: the server refuses a nick this long; shortened", "nick", c.want, "to", rfcNickLen)
		c.want = c.want[:rfcNickLen]
		c.nickMax, c.nick = rfcNickLen, c.want
		c.b.setNick(c.nick)
		c.send("NICK " + c.nick)
		return nil
	}
	if c.nickTry == 0 || len(c.nick) <= 2 {
		return fmt.Errorf("irc: the server refuses nick %q: %s", c.nick, lastParam(m))
	}
	c.nickMax = len(c.nick) - 1
	c.nick = altNick(c.want, c.nickTry, c.nickMax)
	c.b.setNick(c.nick)
	c.send("NICK " + c.nick)
	return nil
}

// altNick returns the try'th alternative to nick: nick_, nick__, nick1,
// nick2 ... cut so that it has at most max characters (0: no limit).
func altNick(nick string, try, max int) string {
	var suffix string
	switch try {
	case 0:
		suffix = ""
	case 1:
		suffix = "_"
	case 2:
		suffix = "__"
	default:
		suffix = strconv.Itoa(try - 2)
	}
	if max > 0 && len(nick)+len(suffix) > max {
		keep := max - len(suffix)
		if keep < 1 {
			keep = 1
		}
		nick = nick[:min(keep, len(nick))]
	}
	return nick + suffix
}

// onPrivmsg relays what IRC users say: in the channel ("msg", or "action"
// for /me), and to the bot itself ("privmsg": the host answers "who" and
// "about"). The bot's own lines, other channels, channel lines starting
// with "***" and CTCP other than ACTION are not relayed; CTCP VERSION is
// answered.
func (c *ircConn) onPrivmsg(m ircmsg.Message) {
	if len(m.Params) < 2 {
		return
	}
	nick := m.Nick()
	if nick == "" || fold(nick) == fold(c.nick) || strings.ContainsAny(nick, ".") && !strings.Contains(m.Source, "!") {
		// No nick, the bot itself, or a server.
		return
	}
	target, text := m.Params[0], m.Params[1]
	var kind string
	switch {
	case fold(target) == fold(c.b.cfg.Channel):
		kind = "msg"
	case fold(target) == fold(c.nick):
		kind = "privmsg"
	default:
		return
	}
	if cmd, arg, ok := ctcp(text); ok {
		switch {
		case cmd == "ACTION" && kind == "msg":
			kind, text = "action", arg
		case cmd == "VERSION" && validNick(nick):
			// Through the paced queue: a CTCP flood must not make the bot
			// flood the server.
			c.b.queue.push(time.Now(), "NOTICE "+nick+" :\x01VERSION "+ctcpVersion+"\x01")
			return
		default:
			return
		}
	}
	// Evennia's bot skips channel lines starting with "***": bouncers
	// and other bridges use them for their own status lines.
	if kind == "msg" && strings.HasPrefix(text, "***") {
		return
	}
	body := toMarkup(text)
	if strings.TrimSpace(body) == "" {
		return
	}
	c.b.relay(sdk.Message{
		Name: "bot_data_in",
		Args: []any{body},
		Kwargs: map[string]any{
			"type":    kind,
			"user":    nick,
			"channel": c.b.cfg.Channel,
		},
	})
}

// fold lower-cases a nick or channel name with RFC 1459's case mapping,
// under which []\~ are the upper case of {}|^. Servers that announce
// CASEMAPPING=ascii never have names that differ only in those.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		case r == '[':
			return '{'
		case r == ']':
			return '}'
		case r == '\\':
			return '|'
		case r == '~':
			return '^'
		}
		return r
	}, s)
}
