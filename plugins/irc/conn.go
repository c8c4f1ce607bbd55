package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircreader"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/logging"
)

// ctrlQueueLen bounds the control lines (PONG, JOIN, NICK, registration)
// waiting for the writer. They are answers to the server and few; a
// connection that lets this many pile up is stuck and is dropped.
const ctrlQueueLen = 64

// Read buffer bounds: IRC lines are 512 bytes, plus up to 8 KiB of IRCv3
// tags.
const (
	readBufInitial = 512
	readBufMax     = 8192 + 1024
)

// errQuit ends a connection the bot quit on purpose.
var errQuit = errors.New("irc: quit")

// ircConn is one connection of a bot to the IRC server, from dial to
// close. A new one is made for every reconnect; the bot and its session
// stay. One goroutine reads (and runs the protocol), one writes.
type ircConn struct {
	b  *bot
	nc net.Conn
	// ctrl carries lines that answer the server; they go before chat.
	ctrl chan string
	// wake tells the writer that joined changed.
	wake   chan struct{}
	joined atomic.Bool

	// wmu serialises writes to nc (the writer and the QUIT on stop).
	wmu sync.Mutex

	// dlMu guards the read deadline against quit, which moves it from
	// another goroutine.
	dlMu         sync.Mutex
	quitting     bool
	quitDeadline time.Time

	failMu  sync.Mutex
	failErr error

	timersMu sync.Mutex
	timers   []*time.Timer
	// isonTimer asks ISON for the wanted nick (nick.go).
	isonTimer *time.Timer
	closed    bool
	// needNick is set while the bot watches for its wanted nick; the ISON
	// timer reads it.
	needNick atomic.Bool

	// The rest belongs to the reading goroutine.
	nick string
	// want is the nick the bot wants: the configured one, cut to the
	// server's NICKLEN when it is longer.
	want    string
	nickTry int
	nickMax int
	// nickLen is the server's NICKLEN (005), 0 until known; monitor says
	// it offers MONITOR; watching that the bot watches for want.
	nickLen    int
	monitor    bool
	watching   bool
	registered bool
	// registeredAt is when the server welcomed the bot.
	registeredAt time.Time
	capLS        []string
	saslDone     bool
	pingSent     bool
	pingAt       time.Time
	lastRegain   time.Time
	serverErr    string
}

// maxNickTries bounds the alternative nicks tried on one connection; past
// it the connection is dropped and retried with backoff.
const maxNickTries = 10

// connectOnce dials the server, registers, joins and relays until the
// connection ends. up is how long the bot was registered (0 when the
// server never welcomed it).
func (b *bot) connectOnce() (up time.Duration, err error) {
	addr := net.JoinHostPort(b.cfg.Network, strconv.Itoa(b.cfg.Port))
	ctx, cancel := context.WithTimeout(b.ctx, b.t.dialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("irc: dial %s: %w", addr, err)
	}
	// Counted among the plugin's figures for the host's metrics: the
	// bytes to and from the server, and the connection while it is open.
	nc = sdk.CountConn(nc)
	if b.cfg.TLS {
		tc := tls.Client(nc, &tls.Config{
			ServerName:         b.cfg.Network,
			InsecureSkipVerify: b.cfg.TLSInsecure, // #nosec G402 -- opt-in for self-signed servers
			MinVersion:         tls.VersionTLS12,
		})
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return 0, fmt.Errorf("irc: TLS handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	c := &ircConn{
		b: b, nc: nc,
		ctrl: make(chan string, ctrlQueueLen),
		wake: make(chan struct{}, 1),
		nick: b.cfg.Nick,
		want: b.cfg.Nick,
	}
	return c.serve()
}

// serve runs the connection until it ends and returns how long it was
// registered and why it ended.
func (c *ircConn) serve() (time.Duration, error) {
	b := c.b
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.writer(ctx) })
	wg.Go(func() {
		select {
		case <-b.ctx.Done():
			c.quit(b.quitMessage())
		case <-ctx.Done():
		}
	})
	b.setNick(c.nick)
	c.register()
	err := c.readLoop()
	if f := c.failure(); f != nil {
		err = f
	}
	c.nc.Close()
	stop()
	c.stopTimers()
	wg.Wait()
	c.setJoined(false)
	if !c.registered {
		return 0, err
	}
	return time.Since(c.registeredAt), err
}

// register starts the registration: capability negotiation when SASL is
// wanted (registration then waits for CAP END), then NICK and USER.
func (c *ircConn) register() {
	if c.wantSASL() {
		c.send("CAP LS 302")
	}
	c.send("NICK " + c.nick)
	c.send("USER " + username(c.b.cfg.Nick) + " 0 * :" + realname(c.b.cfg.ServerName))
}

func (c *ircConn) wantSASL() bool { return c.b.cfg.SASLUser != "" }

// username derives the USER name from the nick: servers accept only a few
// characters there, so anything else is left out.
func username(nick string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(nick) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
		if b.Len() == 10 {
			break
		}
	}
	if b.Len() == 0 {
		return "portico"
	}
	return b.String()
}

func realname(server string) string {
	if server = sanitizeParam(server); server != "" {
		return "Portico IRC bot for " + server
	}
	return "Portico IRC bot"
}

// sanitizeParam removes what cannot be in an IRC parameter (CR, LF, NUL
// and other control characters) from text the host or a user supplied.
func sanitizeParam(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// send queues a control line. A connection whose control queue is full
// is stuck and is closed.
func (c *ircConn) send(line string) {
	select {
	case c.ctrl <- line:
	default:
		c.fail(errors.New("irc: control queue full"))
	}
}

// fail closes the connection from any goroutine; the reader then returns
// err.
func (c *ircConn) fail(err error) {
	c.failMu.Lock()
	if c.failErr == nil {
		c.failErr = err
	}
	c.failMu.Unlock()
	c.nc.Close()
}

func (c *ircConn) failure() error {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	return c.failErr
}

// after runs f after d unless the connection has ended by then.
func (c *ircConn) after(d time.Duration, f func()) {
	c.timersMu.Lock()
	defer c.timersMu.Unlock()
	if c.closed {
		return
	}
	c.timers = append(c.timers, time.AfterFunc(d, f))
}

func (c *ircConn) stopTimers() {
	c.timersMu.Lock()
	defer c.timersMu.Unlock()
	c.closed = true
	for _, t := range c.timers {
		t.Stop()
	}
	if c.isonTimer != nil {
		c.isonTimer.Stop()
	}
}

// quit sends QUIT and gives the server quitTimeout to close the
// connection, so that the QUIT message is seen.
func (c *ircConn) quit(reason string) {
	c.dlMu.Lock()
	c.quitting = true
	c.quitDeadline = time.Now().Add(c.b.t.quitTimeout)
	c.nc.SetReadDeadline(c.quitDeadline)
	c.dlMu.Unlock()
	if err := c.write("QUIT :" + sanitizeParam(reason)); err != nil {
		c.nc.Close()
	}
}

// write sends one line now. Every line is built here from validated names
// and cleaned text; the check is the last guard against CR/LF injection.
func (c *ircConn) write(line string) error {
	if strings.ContainsAny(line, "\r\n\x00") {
		c.b.log.Error("irc: refusing to send a line with CR, LF or NUL", "line", loggable(line))
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(c.b.t.writeTimeout))
	if _, err := io.WriteString(c.nc, line+"\r\n"); err != nil {
		return fmt.Errorf("irc: write: %w", err)
	}
	c.b.log.Debug("irc: >", "line", loggable(line))
	return nil
}

// loggable is an outgoing line as the log may show it: the SASL
// credentials (AUTHENTICATE's base64 chunks, PASS) are masked, so that a
// debug log never holds the bot's password.
func loggable(line string) string {
	cmd, _, _ := strings.Cut(line, " ")
	switch strings.ToUpper(cmd) {
	case "PASS":
		return cmd + " " + logging.Mask
	case "AUTHENTICATE":
		if rest := strings.TrimPrefix(line, cmd+" "); rest != "PLAIN" && rest != "+" && rest != "*" {
			return cmd + " " + logging.Mask
		}
	}
	return line
}

func (c *ircConn) writeCtrl(line string) bool {
	c.b.bucket.spend(time.Now())
	if err := c.write(line); err != nil {
		c.fail(err)
		return false
	}
	return true
}

// writer sends control lines as they come and, while the bot is in its
// channel, chat lines from the bot's queue at the token bucket's pace.
func (c *ircConn) writer(ctx context.Context) {
	q := c.b.queue
	for {
		select {
		case l := <-c.ctrl:
			if !c.writeCtrl(l) {
				return
			}
			continue
		default:
		}
		var ready <-chan struct{}
		if c.joined.Load() {
			ready = q.ready
		}
		select {
		case <-ctx.Done():
			return
		case l := <-c.ctrl:
			if !c.writeCtrl(l) {
				return
			}
		case <-c.wake:
		case <-ready:
			if !c.pace(ctx) {
				q.signal()
				return
			}
			if !c.joined.Load() {
				q.signal()
				continue
			}
			line, ok, stale := q.pop(time.Now())
			if stale > 0 {
				c.b.log.Warn("irc: stale lines dropped", "count", stale)
			}
			if ok {
				if err := c.write(line); err != nil {
					c.fail(err)
					return
				}
			}
		}
	}
}

// pace waits for a token, sending control lines meanwhile. It reports
// false when the connection ended.
func (c *ircConn) pace(ctx context.Context) bool {
	for {
		d := c.b.bucket.take(time.Now())
		if d == 0 {
			return true
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case l := <-c.ctrl:
			t.Stop()
			if !c.writeCtrl(l) {
				return false
			}
		case <-t.C:
		}
	}
}

func (c *ircConn) setJoined(v bool) {
	if c.joined.Swap(v) != v {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// readLoop reads and handles lines until the connection ends. It never
// waits without a deadline: until the welcome (001) the deadline is the
// registration timeout; then, after pingInterval without a line, it sends
// PING and the connection is dead if nothing arrives within pingTimeout.
// A connection cannot hang half-open (matterbridge #2080, #1743).
func (c *ircConn) readLoop() error {
	t := c.b.t
	var rd ircreader.Reader
	rd.Initialize(c.nc, readBufInitial, readBufMax)
	regDeadline := time.Now().Add(t.registerTimeout)
	lastRead := time.Now()
	for {
		c.dlMu.Lock()
		var dl time.Time
		switch {
		case c.quitting:
			dl = c.quitDeadline
		case !c.registered:
			dl = regDeadline
		case c.pingSent:
			dl = c.pingAt.Add(t.pingTimeout)
		default:
			dl = lastRead.Add(t.pingInterval)
		}
		c.nc.SetReadDeadline(dl)
		quitting := c.quitting
		c.dlMu.Unlock()

		raw, err := rd.ReadLine()
		if err != nil {
			if c.isQuitting() || quitting {
				return errQuit
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				switch {
				case !c.registered:
					return fmt.Errorf("irc: no welcome from the server within %v", t.registerTimeout)
				case c.pingSent:
					return fmt.Errorf("irc: no answer to PING within %v", t.pingTimeout)
				}
				c.pingSent, c.pingAt = true, time.Now()
				c.send("PING :portico")
				c.regainNick()
				continue
			}
			if errors.Is(err, io.EOF) {
				if c.serverErr != "" {
					return fmt.Errorf("irc: server closed the connection: %s", c.serverErr)
				}
				return errors.New("irc: server closed the connection")
			}
			return fmt.Errorf("irc: read: %w", err)
		}
		lastRead, c.pingSent = time.Now(), false
		msg, err := ircmsg.ParseLine(string(raw))
		if err != nil {
			if !errors.Is(err, ircmsg.ErrorLineIsEmpty) {
				c.b.log.Debug("irc: bad line from server", "err", err)
			}
			continue
		}
		c.b.log.Debug("irc: <", "line", string(raw))
		if err := c.handle(msg); err != nil {
			return err
		}
	}
}

func (c *ircConn) isQuitting() bool {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	return c.quitting
}

// regainNick asks for the wanted nick again when the bot had to take an
// alternative; it is tried each time the connection goes quiet, at most
// once per pingInterval (the last resort: see nick.go).
func (c *ircConn) regainNick() {
	if fold(c.nick) == fold(c.want) || time.Since(c.lastRegain) < c.b.t.pingInterval {
		return
	}
	c.lastRegain = time.Now()
	c.send("NICK " + c.want)
}
