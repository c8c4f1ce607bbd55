package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// telnetFilter removes telnet commands from a byte stream, so that the
// benchmark's clients read plain lines from Portico's telnet plugin. It
// never answers negotiation: the server then sends plain, uncompressed text.
type telnetFilter struct {
	r     io.Reader
	state int // 0 data, 1 after IAC, 2 after verb, 3 in SB, 4 IAC in SB
}

func (f *telnetFilter) Read(p []byte) (int, error) {
	for {
		n, err := f.r.Read(p)
		out := 0
		for _, b := range p[:n] {
			switch f.state {
			case 0:
				if b == 255 {
					f.state = 1
					continue
				}
				p[out] = b
				out++
			case 1:
				switch {
				case b == 255:
					p[out] = b
					out++
					f.state = 0
				case b >= 251 && b <= 254:
					f.state = 2
				case b == 250:
					f.state = 3
				default:
					f.state = 0
				}
			case 2:
				f.state = 0
			case 3:
				if b == 255 {
					f.state = 4
				}
			case 4:
				if b == 240 {
					f.state = 0
				} else {
					f.state = 3
				}
			}
		}
		if out > 0 || err != nil {
			return out, err
		}
	}
}

// client is one line-oriented connection of the benchmark.
type client struct {
	conn net.Conn
	r    *bufio.Reader
}

func dial(addr string, telnet bool) (*client, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var r io.Reader = conn
	if telnet {
		r = &telnetFilter{r: conn}
	}
	return &client{conn: conn, r: bufio.NewReaderSize(r, 4096)}, nil
}

func (c *client) send(line string) error {
	_, err := c.conn.Write([]byte(line + "\r\n"))
	return err
}

// readLine returns the next line without its terminator.
func (c *client) readLine() (string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// until reads lines until one contains want.
func (c *client) until(want string, within time.Duration) error {
	_ = c.conn.SetReadDeadline(time.Now().Add(within))
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		line, err := c.readLine()
		if err != nil {
			return fmt.Errorf("waiting for %q: %w", want, err)
		}
		if strings.Contains(line, want) {
			return nil
		}
	}
}

// untilBytes reads raw lines until one ends with want (fast path for the
// request/answer loops: no string allocation per line).
func (c *client) untilSuffix(want []byte) error {
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if bytes.HasSuffix(line, want) {
			return nil
		}
	}
}

func (c *client) close() { c.conn.Close() }
