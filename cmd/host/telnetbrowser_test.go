package main

import (
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
)

// TestTelnetPortAnswersBrowsers: a browser pointed at the telnet port
// (curl's and browsers' request, `GET / HTTP/1.1`) is told, in plain text,
// that this is a telnet port and where the webclient is (webclient_url in
// the telnet block), and the connection is closed; the request's lines are
// never run as commands.
func TestTelnetPortAnswersBrowsers(t *testing.T) {
	h := startHostWith(t, hostOptions{telnet: "      webclient_url: \"http://127.0.0.1:4002/\"\n"})
	nc, err := net.DialTimeout("tcp", h.telnetAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("GET / HTTP/1.1\r\nHost: " + h.telnetAddr + "\r\nUser-Agent: Mozilla/5.0\r\nAccept: text/html\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(15 * time.Second))
	out, err := io.ReadAll(nc) // to the close
	if err != nil {
		t.Fatalf("the connection was not closed: %v; got %q", err, out)
	}
	const want = "This is a telnet port for MUD clients. To play in a browser, open the game's webclient.\r\n" +
		"The webclient is at http://127.0.0.1:4002/\r\n"
	if !strings.HasSuffix(string(out), want) {
		t.Fatalf("the browser got %q, want it to end with %q", out, want)
	}
	if strings.Contains(string(out), "is not available") {
		t.Fatalf("the request ran as commands: %q", out)
	}
	h.waitFor("no sessions", func(st host.Status) bool { return st.Sessions == 0 })
}

// TestTelnetBadInputFlood: 2 MB of random bytes on a telnet connection
// (some 15,000 lines of invalid UTF-8) are answered a few times, not once
// a line, and the player can go on.
func TestTelnetBadInputFlood(t *testing.T) {
	h := startHost(t)
	c := dialTelnet(t, h.telnetAddr)
	c.expect("Welcome to TestGame")
	// Random bytes but IAC (so no telnet command), and every line starting
	// with a byte that is never UTF-8 (0xF8 to 0xFE), so that every line
	// is refused by the plugin and none is a command such as q.
	rng := rand.New(rand.NewPCG(4, 2))
	junk := make([]byte, 2<<20)
	lineStart := true
	for i := range junk {
		b := byte(rng.UintN(255))
		if lineStart {
			b = 0xf8 + byte(rng.UintN(7))
		}
		junk[i] = b
		lineStart = b == '\n' || b == '\r'
	}
	start := time.Now()
	c.sendRaw(junk)
	c.send("")
	c.send("ping flood over")
	out := c.expect("pong flood over")
	told := strings.Count(out, "Your client sent an incorrect UTF-8 sequence.")
	if limit := 3 + int(time.Since(start).Seconds()) + 1; told < 1 || told > limit {
		t.Fatalf("2 MB of random bytes were answered %d times, want 1 to %d", told, limit)
	}
}
