// Package control is the host's control socket: a unix socket in the data
// directory's run folder over which `portico stop`, `portico status` and
// later admin commands talk to a running host. Each request is one JSON
// line; each answer is one JSON line. Only the owner of the data directory
// can reach it (the run folder is 0700).
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Request is one command to the host.
type Request struct {
	Cmd  string            `json:"cmd"`
	Args map[string]string `json:"args,omitempty"`
}

// Response is the host's answer.
type Response struct {
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Handler answers one request. A handler that returns a done channel keeps
// the connection open until it is closed (stop waits for the host to be
// down before answering EOF).
type Handler func(ctx context.Context, req Request) (data any, done <-chan struct{}, err error)

// Server serves the control socket.
type Server struct {
	ln      net.Listener
	path    string
	handler Handler
	log     *slog.Logger
	wg      sync.WaitGroup
}

// Listen opens the control socket at path, replacing a stale one.
func Listen(path string, h Handler, log *slog.Logger) (*Server, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control: %s: another host is running", path)
	}
	_ = os.Remove(path)
	// Linux's bind gives the socket file its socket's inode mode (0777 on
	// a fresh socket) less the umask: all of it under umask 000. The
	// inode is made 0600 before bind (the host cannot change its umask
	// for a moment: other goroutines make files too), so the socket is
	// 0600 from the moment it exists. Where fchmod on an unbound socket
	// does nothing, the chmod below makes it 0600 before anyone is told
	// of it, inside the 0700 run directory.
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.Fchmod(int(fd), 0o600) })
	}}
	ln, err := lc.Listen(context.Background(), "unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: chmod %s: %w", path, err)
	}
	return &Server{ln: ln, path: path, handler: h, log: log}, nil
}

// Serve accepts connections until ctx ends or Close.
func (s *Server) Serve(ctx context.Context) {
	s.wg.Add(1)
	defer s.wg.Done()
	go func() {
		<-ctx.Done()
		s.ln.Close()
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

// Close stops accepting, waits for open requests and removes the socket.
func (s *Server) Close() {
	s.ln.Close()
	s.wg.Wait()
	_ = os.Remove(s.path)
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return
	}
	var req Request
	resp := Response{}
	var done <-chan struct{}
	if err := json.Unmarshal(line, &req); err != nil {
		resp.Error = "control: bad request: " + err.Error()
	} else {
		data, d, err := s.handler(ctx, req)
		done = d
		if err != nil {
			resp.Error = err.Error()
		} else {
			resp.OK = true
			if data != nil {
				b, err := json.Marshal(data)
				if err != nil {
					resp.OK, resp.Error = false, "control: encode answer: "+err.Error()
				} else {
					resp.Data = b
				}
			}
		}
	}
	b, _ := json.Marshal(resp)
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append(b, '\n')); err != nil {
		s.log.Debug("control: write answer", "err", err)
		return
	}
	if done != nil {
		<-done
	}
}

// ErrNotRunning is returned by Call when no host answers on the socket.
var ErrNotRunning = errors.New("control: no host is running for this data directory")

// Call sends one request to the host at path and returns its answer. With
// wait set it also waits until the host closes the connection (stop).
func Call(ctx context.Context, path string, req Request, wait bool) (Response, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return Response{}, fmt.Errorf("%w (%s): %v", ErrNotRunning, path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return Response{}, fmt.Errorf("control: send: %w", err)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return Response{}, fmt.Errorf("control: read answer: %w", err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return Response{}, fmt.Errorf("control: bad answer: %w", err)
	}
	if wait {
		_, _ = r.ReadByte() // returns at EOF: the host is down
	}
	return resp, nil
}
