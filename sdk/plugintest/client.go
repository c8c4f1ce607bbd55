package plugintest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Client is one client connection to the plugin under test, as a player's
// client would make it. The kit drives it; the plugin author implements it
// for their protocol (DialTCP is one for plain line-based TCP).
type Client interface {
	// Send sends one line of player input, framed as the protocol frames
	// it (a line ending, a websocket text frame, ...).
	Send(line string) error
	// Expect waits until the output received since the last match
	// contains substr, and consumes the output up to its end. It fails
	// when timeout passes or the connection closes first.
	Expect(substr string, timeout time.Duration) error
	// ExpectClosed waits until the plugin has closed the connection.
	ExpectClosed(timeout time.Duration) error
	// Close hangs up, as a player closing their client.
	Close() error
}

// Dialer opens a client connection to a plugin listening at addr.
type Dialer func(addr string) (Client, error)

// FreeAddr returns a loopback address ("127.0.0.1:port") nothing listens on
// right now, for a plugin's listen key. Another process may take the port
// before the plugin does; on a test machine that is rare enough.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("plugintest: free address: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Build compiles the plugin's main package pkg (a directory or import
// path, "." for the package under test) with `go build` and returns the
// binary's path, named portico-<name> as the host expects. It fails t when
// the build fails.
func Build(t testing.TB, pkg, name string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("plugintest: build %s: the go command is not on PATH: %v", pkg, err)
	}
	out := filepath.Join(t.TempDir(), "portico-"+name)
	cmd := exec.Command(goTool, "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("plugintest: go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// DialTCP is a Dialer for line-based protocols over plain TCP: Send writes
// the line with "\r\n", Expect searches the raw bytes received (bytes a
// protocol adds, such as telnet negotiation, do not get in the way of a
// substring).
func DialTCP(addr string) (Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("plugintest: dial %s: %w", addr, err)
	}
	return NewStreamClient(conn), nil
}

// NewStreamClient makes a Client of any byte stream to the plugin (a TCP
// connection, an SSH session's stdin and stdout joined): Send writes the
// line and "\r\n", Expect searches everything read, ExpectClosed waits
// for the stream's end (a read error), Close closes rw.
func NewStreamClient(rw io.ReadWriteCloser) Client {
	c := &streamClient{conn: rw, Output: NewOutput()}
	go c.Collect(rw)
	return c
}

// streamClient is NewStreamClient's Client.
type streamClient struct {
	conn io.ReadWriteCloser
	*Output
}

// Send writes line and a CR LF.
func (c *streamClient) Send(line string) error {
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		return fmt.Errorf("plugintest: send %q: %w", line, err)
	}
	return nil
}

// Expect implements Client.
func (c *streamClient) Expect(substr string, timeout time.Duration) error {
	if _, err := c.Await(substr, timeout); err != nil {
		return fmt.Errorf("plugintest: %w", err)
	}
	return nil
}

// ExpectClosed implements Client.
func (c *streamClient) ExpectClosed(timeout time.Duration) error {
	select {
	case <-c.Closed():
		return nil
	case <-time.After(timeout):
		return errors.New("plugintest: the plugin did not close the connection")
	}
}

// Close implements Client; it waits (briefly) for the reader to stop.
func (c *streamClient) Close() error {
	err := c.conn.Close()
	select {
	case <-c.Closed():
	case <-time.After(5 * time.Second):
		return errors.New("plugintest: the stream's reader did not stop after Close")
	}
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
