package main

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/wire"
)

// TestHTTPRequestOnTelnetPort: a browser's request on the telnet port gets
// the short text, byte for byte (with the webclient's address when
// webclient_url is set), and the connection is closed; no line of the
// request reaches the host.
func TestHTTPRequestOnTelnetPort(t *testing.T) {
	const notice = "This is a telnet port for MUD clients. To play in a browser, open the game's webclient.\r\n"
	for _, tc := range []struct {
		name, url, request, want string
	}{
		{"get", "", "GET / HTTP/1.1\r\nHost: 127.0.0.1:4000\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n", notice},
		{"head lower case", "", "head /index.html http/1.0\r\n\r\n", notice},
		{"post with a url", "https://game.example/webclient/", "POST /login HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
			"This is a telnet port for MUD clients. To play in a browser, open the game's webclient.\r\n" +
				"The webclient is at https://game.example/webclient/\r\n"},
		{"options, bare lf", "", "OPTIONS * HTTP/1.1\nHost: x\n\n", notice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{MaxLineLength: 6000, WebclientURL: tc.url}, overTCP)
			h.write(tc.request)
			h.expectClosed(tc.want)
			for _, ev := range h.rest() {
				if ev.GetDataIn() != nil {
					t.Fatalf("the request reached the host: %v", ev)
				}
			}
		})
	}
}

// TestHTTPLineLaterIsACommand: only a first line is taken for a browser's
// request; the same text typed later is an ordinary line.
func TestHTTPLineLaterIsACommand(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overPipe)
	h.write("look\r\n", "GET / HTTP/1.1\r\n")
	h.expectText("look", "GET / HTTP/1.1")
	h.expectOutput("")
}

// TestBadInputFloodGetsFewReplies: 2 MB of random bytes (no IAC, so no
// telnet command) make thousands of invalid UTF-8 lines; the client is
// told a few times (three at once, then one a second), not once a line,
// and the session still works.
func TestBadInputFloodGetsFewReplies(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	rng := rand.New(rand.NewPCG(17, 42))
	junk := make([]byte, 2<<20)
	for i := range junk {
		junk[i] = byte(rng.UintN(255)) // 0..254: never IAC
	}
	lines := bytes.Count(junk, []byte("\n")) + bytes.Count(junk, []byte("\r"))
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.client.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_, _ = h.client.Write(junk)
		_, _ = h.client.Write([]byte("\r\n~end\r\n"))
	}()
	// Lines of the junk that happen to be valid UTF-8 reach the host; the
	// marker comes after them all.
	for {
		ev := h.col.next(t)
		msgs, err := wire.MessagesFromPB(ev.GetDataIn().GetMessages())
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 1 {
			if s, _ := msgs[0].FirstString(); s == "~end" {
				break
			}
		}
	}
	<-done
	elapsed := time.Since(start)
	out := string(h.flush())
	told := strings.Count(out, sdk.MsgBadUTF8)
	if limit := 3 + int(elapsed.Seconds()) + 1; told < 1 || told > limit {
		t.Fatalf("%d bad lines in %v were answered %d times, want 1 to %d", lines, elapsed, told, limit)
	}
	h.write("look\r\n")
	h.expectText("look")
}
