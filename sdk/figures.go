package sdk

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// The plugin's own figures, for the host's metrics (PluginFigures in the
// contract). The SDK counts what passes through it without the plugin doing
// anything: the bytes and connections of every socket FileLimitListener
// accepts (the listener every plugin wraps its TCP listener in) and of
// every connection wrapped in CountConn (a bot's to its server), and the
// connections its limits refuse (FileLimitListener, LimitListener,
// NewSession). A plugin adds figures of its own with Portal.AddFigure and
// Portal.SetFigure. While a link is up, the server sends them all to the
// host every HostInfo.FiguresInterval, cumulative since the process
// started, so that a lost report loses nothing.
//
// A byte costs nothing: each Read and Write call adds what it moved with
// one atomic add.

// figures are a plugin process's counts. The zero value is ready.
type figures struct {
	bytesIn, bytesOut atomic.Uint64
	open              atomic.Int64
	accepted          atomic.Uint64
	refusedAddress    atomic.Uint64
	refusedQueue      atomic.Uint64
	refusedFileLimit  atomic.Uint64

	mu       sync.Mutex
	counters map[string]float64
	gauges   map[string]float64
}

// processFigures are the figures of this process: one plugin runs in it.
var processFigures = &figures{}

// processID tells this process's figures from those of the process before
// it (PluginFigures.process): random, never 0.
var processID = func() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}()

// ErrBadFigure is returned for a figure whose name is not lower case
// letters, digits and underscores (starting with a letter, at most 63),
// or one past the bound of 64 names of each kind.
var ErrBadFigure = errors.New("sdk: figure name must be [a-z][a-z0-9_]*, at most 63 characters, and at most 64 names of each kind")

// AddFigure adds delta (not negative) to the plugin's own counter name,
// which the host serves as portico_plugin_figure_total{plugin,name}: say,
// "tls_handshakes_failed". Counters are cumulative for the process's life.
func (p *Portal) AddFigure(name string, delta float64) error {
	if delta < 0 {
		return errors.New("sdk: AddFigure: a counter does not go down (use SetFigure for a value that does)")
	}
	return p.figures.set(&p.figures.counters, name, func(v float64) float64 { return v + delta })
}

// SetFigure sets the plugin's own gauge name, a value now, which the host
// serves as portico_plugin_figure{plugin,name}: say, "rooms_bridged".
func (p *Portal) SetFigure(name string, v float64) error {
	return p.figures.set(&p.figures.gauges, name, func(float64) float64 { return v })
}

// Figures returns the figures the host would be sent now, its own among
// them (for a plugin's tests; the counts are the whole process's).
func (p *Portal) Figures() *portalpb.PluginFigures { return p.figures.event().GetFigures() }

func (f *figures) set(m *map[string]float64, name string, op func(float64) float64) error {
	if !contract.ValidFigureName(name) {
		return ErrBadFigure
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if *m == nil {
		*m = map[string]float64{}
	}
	v, ok := (*m)[name]
	if !ok && len(*m) >= contract.MaxFigures {
		return ErrBadFigure
	}
	(*m)[name] = op(v)
	return nil
}

// event is the figures as the contract's event, now.
func (f *figures) event() *portalpb.Event {
	pf := &portalpb.PluginFigures{
		Process:             processID,
		ClientBytesIn:       f.bytesIn.Load(),
		ClientBytesOut:      f.bytesOut.Load(),
		ConnectionsOpen:     uint64(max(f.open.Load(), 0)),
		ConnectionsAccepted: f.accepted.Load(),
		RefusedAddressLimit: f.refusedAddress.Load(),
		RefusedQueue:        f.refusedQueue.Load(),
		RefusedFileLimit:    f.refusedFileLimit.Load(),
	}
	f.mu.Lock()
	pf.Counters = figureList(f.counters)
	pf.Gauges = figureList(f.gauges)
	f.mu.Unlock()
	return &portalpb.Event{Kind: &portalpb.Event_Figures{Figures: pf}}
}

// figureList lists m by name, so that two reports of the same figures
// encode alike.
func figureList(m map[string]float64) []*portalpb.Figure {
	out := make([]*portalpb.Figure, 0, len(m))
	for name, v := range m {
		out = append(out, &portalpb.Figure{Name: name, Value: v})
	}
	slices.SortFunc(out, func(a, b *portalpb.Figure) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// reportFigures queues the figures for the host at once and then every
// interval the host asked for (read afresh each time: a live edit of its
// ping interval applies at the next report) until ctx ends. It sends
// nothing to a host that asked for none.
func (s *Server) reportFigures(ctx context.Context) {
	for {
		every := s.portal.Host().FiguresInterval
		if every <= 0 {
			return
		}
		if err := s.portal.outbox.Put(s.portal.figures.event()); err != nil {
			s.log.Debug("figures: not sent", "err", err)
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// startFigures runs reportFigures for a link whose context is ctx; the
// returned stop ends it and waits until it has.
func (s *Server) startFigures(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.reportFigures(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// CountConn returns nc counted among the plugin's client connections (open
// until its first Close) and its bytes among the client traffic: for a
// connection the plugin makes itself, such as a bot's to its server. The
// connections FileLimitListener accepts are counted already; do not wrap
// them again. The socket stays reachable (syscall.Conn) for connio.
func CountConn(nc net.Conn) net.Conn {
	processFigures.open.Add(1)
	return &countingConn{Conn: nc, f: processFigures}
}

// countConn wraps an accepted connection: counted as accepted and open.
func countConn(nc net.Conn, f *figures) *countingConn {
	f.accepted.Add(1)
	f.open.Add(1)
	return &countingConn{Conn: nc, f: f}
}

// countingConn counts the bytes read from and written to a connection,
// one atomic add per call, and the connection among the open ones until
// its first Close.
type countingConn struct {
	net.Conn
	f      *figures
	closed atomic.Bool
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.f.bytesIn.Add(uint64(n))
	}
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.f.bytesOut.Add(uint64(n))
	}
	return n, err
}

func (c *countingConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.f.open.Add(-1)
	}
	return err
}

// SyscallConn returns the socket (connio parks idle connections on it and
// writes to it directly; such writes are told to CountWritten).
func (c *countingConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// CountWritten counts n bytes written to the socket past Write
// (connio.WriteCounter).
func (c *countingConn) CountWritten(n int) {
	if n > 0 {
		c.f.bytesOut.Add(uint64(n))
	}
}

// CountRead counts n bytes read from the socket past Read
// (connio.ReadCounter).
func (c *countingConn) CountRead(n int) {
	if n > 0 {
		c.f.bytesIn.Add(uint64(n))
	}
}

// CloseWrite half-closes the connection (net/http uses it).
func (c *countingConn) CloseWrite() error { return closeWrite(c.Conn) }
