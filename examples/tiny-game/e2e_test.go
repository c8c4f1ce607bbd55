package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/core/control"
	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/sdk/plugintest"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// The end-to-end test runs the real game binary, built here from this
// module, with the real telnet and websocket plugins, built from the
// Portico checkout this example lives in; nothing needs to be built
// beforehand. Real clients talk to it over 127.0.0.1.

// binDir holds the binaries, built by the first test that needs them: the
// game and, beside it, the plugins, where the host looks for them by
// default (bin/portico-<name>).
var (
	binDir   string
	built    sync.Once
	buildErr error
)

// portico is the Portico checkout (the example's replace directive).
var portico, _ = filepath.Abs(filepath.Join("..", ".."))

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "tiny-game-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binDir = dir
		return m.Run()
	}())
}

// build builds the game and the plugins into binDir, once.
func build(t *testing.T) {
	t.Helper()
	built.Do(func() {
		for _, b := range []struct{ out, pkg, dir string }{
			{"tiny-game", ".", "."},
			{"portico-telnet", "./plugins/telnet", portico},
			{"portico-websocket", "./plugins/websocket", portico},
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, b.out), b.pkg)
			cmd.Dir = b.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// TestEndToEnd: two telnet players (one with GMCP, as Mudlet) and a
// websocket player walk between rooms and hear only their own room, before
// and after a `tiny-game reload`; the GMCP player's mapper gets Room.Info on
// every move; a character that logs out comes back where it was, and so
// after the server is stopped and started again.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the game and its plugins")
	}
	build(t)
	srv := startServer(t)
	ann := dialTelnet(t, srv.telnet)
	bob := dialTelnet(t, srv.telnet)
	cid := dialWeb(t, srv.web)
	for _, p := range []player{ann, bob, cid} {
		p.expect("Welcome to the Tiny Test!")
	}
	ann.send("create ann annpass12")
	ann.expect("was created")
	ann.send("connect ann annpass12")
	ann.expect("Town Square")
	if info := ann.roomInfo(1); info.Name != "Town Square" {
		t.Fatalf("Room.Info at login: %+v", info)
	}
	bob.send("create bob bobpass12")
	bob.expect("was created")
	bob.send("connect bob bobpass12")
	bob.expect("Town Square")
	cid.send("create cid cidpass12")
	cid.expect("was created")
	cid.send("connect cid cidpass12")
	cid.expect("Town Square")
	ann.expect("cid has arrived.")

	// Everyone in the square hears a say there.
	ann.send("say hello square")
	ann.expect(`You say, "hello square"`)
	bob.expect(`ann says, "hello square"`)
	cid.expect(`ann says, "hello square"`)

	// ann walks north; the square sees her go, her mapper gets the room.
	ann.send("n")
	ann.expect("North Road")
	info := ann.roomInfo(2)
	if info.Name != "North Road" || info.Area != "Tinyton" || info.Exits["s"] != 1 || info.Exits["u"] != 4 {
		t.Fatalf("Room.Info after n: %+v", info)
	}
	bob.expect("ann leaves north.")
	cid.expect("ann leaves north.")

	// A say in the square is not heard on the road, and back.
	bob.send("say only the square")
	bob.expect(`You say, "only the square"`)
	cid.expect(`bob says, "only the square"`)
	ann.notHeard("only the square")
	ann.send("say only the road")
	ann.expect(`You say, "only the road"`)
	bob.notHeard("only the road")
	cid.notHeard("only the road")

	// The websocket player walks east, into the tavern, and gets the room.
	cid.send("go east")
	cid.expect("The Tavern")
	if info := cid.roomInfo(3); info.Name != "The Tavern" || info.Exits["w"] != 1 || len(info.Exits) != 1 {
		t.Fatalf("the websocket player's Room.Info: %+v", info)
	}
	bob.expect("cid leaves east.")

	// The game's own binary reloads: everyone stays, and stays where they
	// were (the positions live in the attribute store the new image reads).
	srv.cli("reload")
	for _, p := range []player{ann, bob, cid} {
		p.expect("Server restarted.")
	}
	ann.send("look")
	ann.expect("North Road")
	cid.send("look")
	cid.expect("The Tavern")
	cid.send("emote raises a mug")
	cid.expect("cid raises a mug.")
	bob.notHeard("raises a mug")
	ann.notHeard("raises a mug")

	// bob joins ann on the road; now he hears her.
	bob.send("north")
	bob.expect("North Road")
	bob.expect("Here: ann.")
	ann.expect("bob arrives from the south.")
	ann.send("say welcome, bob")
	bob.expect(`ann says, "welcome, bob"`)
	cid.notHeard("welcome, bob")

	// ann logs out and back in: she is where she was.
	ann.send("quit")
	ann.expectClosed()
	bob.expect("ann has left the game.")
	ann = dialTelnet(t, srv.telnet)
	ann.expect("Welcome to the Tiny Test!")
	ann.send("connect ann annpass12")
	ann.expect("North Road")
	ann.roomInfo(2)
	bob.expect("ann has arrived.")

	// Stopped and started again: the world and the positions are kept.
	srv.cli("stop")
	srv.start()
	cid = dialWeb(t, srv.web)
	cid.expect("Welcome to the Tiny Test!")
	cid.send("connect cid cidpass12")
	cid.expect("The Tavern")
}

// server is the game binary running with its plugins.
type server struct {
	t           *testing.T
	dir, config string
	telnet, web string
	cmd         *exec.Cmd
	log         *plugintest.LockedBuffer
	exited      chan struct{}
}

// startServer writes a config (cheap password hashing, no per-address
// limits: every client here is 127.0.0.1) and starts the game on it.
func startServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, dir: dir, config: filepath.Join(dir, "config.yaml"),
		telnet: fmt.Sprintf("127.0.0.1:%d", conntest.FreePort(t)), web: fmt.Sprintf("127.0.0.1:%d", conntest.FreePort(t))}
	cfg := fmt.Sprintf(`server:
  name: Tiny Test
  data_dir: data
  argon2_memory_kib: 256
  argon2_time: 1
limits:
  connection_rate: 0
  connections_per_ip: 0
  account_creations: 0
  create_attempts: 0
plugins:
  telnet:
    enabled: true
    config:
      listen: %q
  websocket:
    enabled: true
    config:
      listen: %q
game:
  start_room: 1
  welcome: "Welcome to the Tiny Test!"
`, s.telnet, s.web)
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("game log:\n%s", s.log.String())
			for _, name := range []string{"telnet.log", "websocket.log"} {
				if b, err := os.ReadFile(filepath.Join(dir, "data", "logs", name)); err == nil {
					t.Logf("%s:\n%s", name, b)
				}
			}
		}
	})
	s.start()
	return s
}

// start runs `tiny-game start` and waits until both plugins run.
func (s *server) start() {
	s.t.Helper()
	s.log = &plugintest.LockedBuffer{}
	s.exited = make(chan struct{})
	s.cmd = exec.Command(filepath.Join(binDir, "tiny-game"), "start", "--config", s.config)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	cmd, exited := s.cmd, s.exited
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := s.status()
		running := 0
		for _, p := range st.Plugins {
			if p.State == "running" {
				running++
			}
		}
		if err == nil && running == 2 {
			return
		}
		select {
		case <-s.exited:
			s.t.Fatalf("the game exited at start:\n%s", s.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the plugins did not start: %+v %v", st, err)
		}
	}
}

// status asks the running game for its status on its control socket.
func (s *server) status() (host.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var st host.Status
	resp, err := control.Call(ctx, filepath.Join(s.dir, "data", "run", "control.sock"), control.Request{Cmd: "status"}, false)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(resp.Data, &st)
}

// cli runs a subcommand of the game's own binary against the server.
func (s *server) cli(args ...string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args = append(args, "--config", s.config)
	if out, err := exec.CommandContext(ctx, filepath.Join(binDir, "tiny-game"), args...).CombinedOutput(); err != nil {
		s.t.Fatalf("tiny-game %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if args[0] == "stop" {
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			s.t.Fatal("the game did not exit after stop")
		}
	}
}

// stop interrupts the game (a clean stop) and waits for it.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// player is a client, over telnet or websocket.
type player interface {
	send(line string)
	// expect waits until want is in the text not yet consumed, and
	// consumes it.
	expect(want string)
	// notHeard checks that text never reached the player: it sends a
	// ping of its own and reads up to the answer, which the server sends
	// after anything said before it.
	notHeard(text string)
	// roomInfo waits for the GMCP Room.Info of room num, and returns it.
	roomInfo(num int) roomInfo
}

// roomInfo is GMCP's Room.Info as Mudlet's mapper reads it.
type roomInfo struct {
	Num   int            `json:"num"`
	Name  string         `json:"name"`
	Area  string         `json:"area"`
	Exits map[string]int `json:"exits"`
}

// stream is what a client has received: text, and OOB payloads (GMCP
// Room.Info), each read by expect in order.
type stream struct {
	t      *testing.T
	mu     sync.Mutex
	text   string
	rooms  []roomInfo
	update chan struct{}
	closed chan struct{}
	pings  int
}

func newStream(t *testing.T) *stream {
	return &stream{t: t, update: make(chan struct{}, 1), closed: make(chan struct{})}
}

func (s *stream) addText(txt string) {
	s.mu.Lock()
	s.text += txt
	s.mu.Unlock()
	s.poke()
}

func (s *stream) addRoom(r roomInfo) {
	s.mu.Lock()
	s.rooms = append(s.rooms, r)
	s.mu.Unlock()
	s.poke()
}

func (s *stream) poke() {
	select {
	case s.update <- struct{}{}:
	default:
	}
}

// wait runs take (under the lock) until it reports true, for 15 s.
func (s *stream) wait(what string, take func() bool) {
	s.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		s.mu.Lock()
		ok, text := take(), s.text
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.update:
		case <-s.closed:
			s.mu.Lock()
			ok = take()
			s.mu.Unlock()
			if !ok {
				s.t.Fatalf("connection closed while waiting for %s; unread:\n%s", what, text)
			}
			return
		case <-timeout:
			s.t.Fatalf("timed out waiting for %s; unread:\n%s", what, text)
		}
	}
}

func (s *stream) expect(want string) {
	s.t.Helper()
	s.wait(fmt.Sprintf("%q", want), func() bool {
		i := strings.Index(s.text, want)
		if i < 0 {
			return false
		}
		s.text = s.text[i+len(want):]
		return true
	})
}

func (s *stream) roomInfo(num int) roomInfo {
	s.t.Helper()
	var r roomInfo
	s.wait(fmt.Sprintf("Room.Info of room %d", num), func() bool {
		for i, got := range s.rooms {
			if got.Num == num {
				r, s.rooms = got, s.rooms[i+1:]
				return true
			}
		}
		return false
	})
	return r
}

// notHeard is player.notHeard for a client that sends with send.
func (s *stream) notHeard(send func(string), text string) {
	s.t.Helper()
	s.pings++
	marker := fmt.Sprintf("check-%d-%d", time.Now().UnixNano(), s.pings)
	send("ping " + marker)
	var before string
	s.wait("pong "+marker, func() bool {
		i := strings.Index(s.text, "pong "+marker)
		if i < 0 {
			return false
		}
		before, s.text = s.text[:i], s.text[i+len("pong "+marker):]
		return true
	})
	if strings.Contains(before, text) {
		s.t.Errorf("%q was heard where it should not be:\n%s", text, before)
	}
}

// telnetPlayer is a telnet client that, as Mudlet does, agrees to GMCP
// (and refuses every other option).
type telnetPlayer struct {
	*stream
	conn net.Conn
}

// Telnet bytes (RFC 854) and the GMCP option.
const (
	iac, dont, do, wont, will, sb, se = 255, 254, 253, 252, 251, 250, 240
	optGMCP                           = 201
)

func dialTelnet(t *testing.T, addr string) *telnetPlayer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p := &telnetPlayer{stream: newStream(t), conn: conn}
	go p.read()
	t.Cleanup(func() { conn.Close(); <-p.closed })
	return p
}

// read parses what the server sends until the connection ends: text goes
// to the stream, GMCP Room.Info too, and each negotiation is answered.
func (p *telnetPlayer) read() {
	defer close(p.closed)
	r := &byteReader{r: p.conn}
	var text bytes.Buffer
	flush := func() {
		if text.Len() > 0 {
			p.addText(strings.ReplaceAll(text.String(), "\r", ""))
			text.Reset()
		}
	}
	for {
		if r.buffered() == 0 {
			flush() // before waiting for more
		}
		b, err := r.next()
		if err != nil {
			flush()
			return
		}
		if b != iac {
			text.WriteByte(b)
			continue
		}
		cmd, err := r.next()
		if err != nil {
			return
		}
		switch cmd {
		case iac:
			text.WriteByte(iac)
		case will, do:
			opt, err := r.next()
			if err != nil {
				return
			}
			answer := byte(dont)
			switch {
			case cmd == will && opt == optGMCP:
				answer = do
			case cmd == do:
				answer = wont
			}
			_, _ = p.conn.Write([]byte{iac, answer, opt})
		case wont, dont:
			if _, err := r.next(); err != nil {
				return
			}
		case sb:
			payload, err := r.subnegotiation()
			if err != nil {
				return
			}
			if len(payload) > 0 && payload[0] == optGMCP {
				if msg, ok := strings.CutPrefix(string(payload[1:]), "Room.Info "); ok {
					var info roomInfo
					if json.Unmarshal([]byte(msg), &info) == nil {
						p.addRoom(info)
					}
				}
			}
		}
	}
}

func (p *telnetPlayer) send(line string) {
	p.t.Helper()
	if _, err := p.conn.Write([]byte(line + "\r\n")); err != nil {
		p.t.Fatalf("send %q: %v", line, err)
	}
}

func (p *telnetPlayer) notHeard(text string) { p.t.Helper(); p.stream.notHeard(p.send, text) }

func (p *telnetPlayer) expectClosed() {
	p.t.Helper()
	select {
	case <-p.closed:
	case <-time.After(15 * time.Second):
		p.t.Fatal("the server did not close the connection")
	}
}

// byteReader reads a connection a byte at a time, from a buffer.
type byteReader struct {
	r    io.Reader
	buf  []byte
	pos  int
	have int
}

func (b *byteReader) next() (byte, error) {
	if b.pos == b.have {
		if b.buf == nil {
			b.buf = make([]byte, 4096)
		}
		n, err := b.r.Read(b.buf)
		if n == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return 0, err
		}
		b.pos, b.have = 0, n
	}
	c := b.buf[b.pos]
	b.pos++
	return c, nil
}

func (b *byteReader) buffered() int { return b.have - b.pos }

// subnegotiation reads up to IAC SE, undoubling IAC IAC.
func (b *byteReader) subnegotiation() ([]byte, error) {
	var out []byte
	for {
		c, err := b.next()
		if err != nil {
			return nil, err
		}
		if c != iac {
			out = append(out, c)
			continue
		}
		c, err = b.next()
		if err != nil {
			return nil, err
		}
		if c == se {
			return out, nil
		}
		out = append(out, c)
	}
}

// webPlayer is a websocket client speaking Evennia's webclient format
// (v1.evennia.com): JSON [name, args, kwargs] both ways, text as HTML.
type webPlayer struct {
	*stream
	c *websocket.Conn
}

func dialWeb(t *testing.T, addr string) *webPlayer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	p := &webPlayer{stream: newStream(t), c: c}
	go p.read()
	t.Cleanup(func() { _ = c.CloseNow(); <-p.closed })
	return p
}

func (p *webPlayer) read() {
	defer close(p.closed)
	for {
		_, data, err := p.c.Read(context.Background())
		if err != nil {
			return
		}
		var msg []json.RawMessage
		if json.Unmarshal(data, &msg) != nil || len(msg) < 2 {
			continue
		}
		var name string
		_ = json.Unmarshal(msg[0], &name)
		switch name {
		case "text":
			var args []string
			if json.Unmarshal(msg[1], &args) == nil && len(args) > 0 {
				p.addText(html.UnescapeString(strings.ReplaceAll(args[0], "<br>", "\n")) + "\n")
			}
		case "room_info":
			var info roomInfo
			if len(msg) > 2 && json.Unmarshal(msg[2], &info) == nil {
				p.addRoom(info)
			}
		}
	}
}

func (p *webPlayer) send(line string) {
	p.t.Helper()
	b, _ := json.Marshal([]any{"text", []any{line}, map[string]any{}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.c.Write(ctx, websocket.MessageText, b); err != nil {
		p.t.Fatalf("send %q: %v", line, err)
	}
}

func (p *webPlayer) notHeard(text string) { p.t.Helper(); p.stream.notHeard(p.send, text) }
