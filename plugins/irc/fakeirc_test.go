package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// waitLimit bounds every wait in these tests.
const waitLimit = 10 * time.Second

// fakeServer is a scripted IRC server on a loopback port: each test
// accepts the bot's connections and answers line by line, so that every
// step of the protocol is checked in order.
type fakeServer struct {
	t     *testing.T
	ln    net.Listener
	conns chan *fakeClient
	wg    sync.WaitGroup
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveFake(t, ln)
}

// newFakeTLSServer is newFakeServer behind TLS with a self-signed
// certificate.
func newFakeTLSServer(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveFake(t, tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}))
}

func serveFake(t *testing.T, ln net.Listener) *fakeServer {
	s := &fakeServer{t: t, ln: ln, conns: make(chan *fakeClient, 16)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns <- newFakeClient(t, nc)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
		close(s.conns)
		for c := range s.conns {
			c.close()
		}
	})
	return s
}

func (s *fakeServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// accept waits for the bot's next connection.
func (s *fakeServer) accept() *fakeClient {
	s.t.Helper()
	select {
	case c := <-s.conns:
		s.t.Cleanup(c.close)
		return c
	case <-time.After(waitLimit):
		s.t.Fatal("fake IRC server: no connection from the bot")
		return nil
	}
}

// fakeLine is one line from the bot, as sent and parsed.
type fakeLine struct {
	raw string
	m   ircmsg.Message
}

// fakeClient is the server's side of one bot connection.
type fakeClient struct {
	t     *testing.T
	nc    net.Conn
	lines chan fakeLine
	// eof is closed when the bot closed the connection (or it broke).
	eof  chan struct{}
	once sync.Once
	// nick is what the bot registered as, once welcome ran.
	nick string
}

func newFakeClient(t *testing.T, nc net.Conn) *fakeClient {
	c := &fakeClient{t: t, nc: nc, lines: make(chan fakeLine, 1000), eof: make(chan struct{})}
	go func() {
		defer close(c.eof)
		r := bufio.NewReader(nc)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if !strings.HasSuffix(line, "\r\n") {
				c.t.Errorf("line not ended with CR LF: %q", line)
			}
			m, err := ircmsg.ParseLine(line)
			if err != nil {
				c.t.Errorf("bot sent a bad line %q: %v", line, err)
				continue
			}
			c.lines <- fakeLine{raw: strings.TrimSuffix(line, "\r\n"), m: m}
			if m.Command == "QUIT" {
				// As servers do: the QUIT is answered by closing.
				c.close()
			}
		}
	}()
	return c
}

func (c *fakeClient) close() { c.once.Do(func() { c.nc.Close() }) }

// send writes one line to the bot.
func (c *fakeClient) send(format string, args ...any) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.nc, format+"\r\n", args...); err != nil {
		c.t.Fatalf("fake server send: %v", err)
	}
}

// next returns the bot's next line.
func (c *fakeClient) next() ircmsg.Message {
	c.t.Helper()
	select {
	case l := <-c.lines:
		return l.m
	case <-time.After(waitLimit):
		c.t.Fatal("fake server: no line from the bot")
		return ircmsg.Message{}
	}
}

// nextRaw returns the bot's next line as it was sent.
func (c *fakeClient) nextRaw() string {
	c.t.Helper()
	select {
	case l := <-c.lines:
		return l.raw
	case <-time.After(waitLimit):
		c.t.Fatal("fake server: no line from the bot")
		return ""
	}
}

// expect returns the bot's next line, which must be the command cmd (with
// params when given).
func (c *fakeClient) expect(cmd string, params ...string) ircmsg.Message {
	c.t.Helper()
	m := c.next()
	if m.Command != cmd {
		c.t.Fatalf("fake server: want %s %q, got %s %q", cmd, params, m.Command, m.Params)
	}
	for i, p := range params {
		if i >= len(m.Params) || m.Params[i] != p {
			c.t.Fatalf("fake server: want %s %q, got %s %q", cmd, params, m.Command, m.Params)
		}
	}
	return m
}

// skipTo returns the next line with command cmd, passing over others
// (PINGs, PONGs).
func (c *fakeClient) skipTo(cmd string) ircmsg.Message {
	c.t.Helper()
	for {
		if m := c.next(); m.Command == cmd {
			return m
		}
	}
}

// welcome completes a plain registration: NICK, USER, then 001 and the
// JOIN of channel, echoed as a server does.
func (c *fakeClient) welcome(channel string) {
	c.t.Helper()
	nick := c.expect("NICK").Params[0]
	c.expect("USER")
	c.welcomeAs(nick, channel)
}

func (c *fakeClient) welcomeAs(nick, channel string) {
	c.t.Helper()
	c.nick = nick
	c.send(":irc.test 001 %s :Welcome to the test network %s", nick, nick)
	c.expect("JOIN", channel)
	c.send(":%s!~%s@127.0.0.1 JOIN %s", nick, username(nick), channel)
}

// expectEOF waits until the bot closes the connection, passing over what
// it sends meanwhile.
func (c *fakeClient) expectEOF() {
	c.t.Helper()
	select {
	case <-c.eof:
	case <-time.After(waitLimit):
		c.t.Fatal("fake server: the bot did not close the connection")
	}
}

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "irc.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
