package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-mud/portico/core/plugins"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The host's Prometheus metrics, served on server.metrics_listen at
// /metrics. Counters the game side and the links keep are counted as they
// happen (the host's Meter for sessions.Meter and plugins.LinkMeter); what
// is a state (sessions, plugins, outboxes, bots) is read at each scrape.
// Every label's values are a bounded set: plugin and bot names from the
// config and the database, command keys the game registered, and fixed
// words.

// envReloads carries the count of reloads across a re-execution, so that
// portico_reloads_total counts every reload of the process.
const envReloads = "PORTICO_RELOADS"

// metrics are the host's instruments and its registry.
type metrics struct {
	reg             *prometheus.Registry
	logins          *prometheus.CounterVec
	accountsCreated prometheus.Counter
	commands        *prometheus.CounterVec
	commandDuration prometheus.Histogram
	linkEvents      *prometheus.CounterVec
	linkBytes       *prometheus.CounterVec
	outboxDropped   *prometheus.CounterVec
	throttled       *prometheus.CounterVec
	reloads         prometheus.Counter
	reloadDuration  *reloadHistogram
	// links holds each link's two counters (linkKey → *linkCounters),
	// looked up once: the links count every event, and a label lookup
	// hashes the labels under the vector's lock each time.
	links sync.Map
}

// linkKey names a link and a direction.
type linkKey struct{ plugin, direction string }

// linkCounters are one link's counters in one direction.
type linkCounters struct{ events, bytes prometheus.Counter }

// newMetrics makes the instruments and registers them, the state read at
// each scrape from h, and Go's runtime and process collectors.
func newMetrics(h *Host) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "portico_logins_total",
		Help: "Logins by result: ok, failed (wrong name or password), throttled (refused by a login limit)."}, []string{"result"})
	m.accountsCreated = prometheus.NewCounter(prometheus.CounterOpts{Name: "portico_accounts_created_total",
		Help: "Accounts created in the game."})
	m.commands = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "portico_commands_total",
		Help: "Commands run, by command key (<channel>: talk on a channel; <unknown>: no such command)."}, []string{"command"})
	m.commandDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "portico_command_duration_seconds",
		Help:    "Time a command's code took on the game loop.",
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}})
	m.linkEvents = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "portico_link_events_total",
		Help: "Events over each plugin's Link; direction in is from the plugin."}, []string{"plugin", "direction"})
	m.linkBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "portico_link_bytes_total",
		Help: "Encoded bytes of the events over each plugin's Link; direction in is from the plugin."}, []string{"plugin", "direction"})
	m.outboxDropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "portico_outbox_dropped_total",
		Help: "Events for a plugin dropped: it was not running (its sessions had gone with it)."}, []string{"plugin"})
	m.throttled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "portico_throttled_total",
		Help: "Refusals by the host's limits, by kind: login, create, create-attempt, command_rate."}, []string{"kind"})
	m.reloads = prometheus.NewCounter(prometheus.CounterOpts{Name: "portico_reloads_total",
		Help: "Reloads and resets of the host (re-executions) since the process started."})
	m.reloadDuration = newReloadHistogram(os.Getenv(envReloadDurations))
	for _, c := range []prometheus.Collector{m.logins, m.accountsCreated, m.commands, m.commandDuration, m.linkEvents,
		m.linkBytes, m.outboxDropped, m.throttled, m.reloads, m.reloadDuration, &stateCollector{h: h},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	// Every result and kind shows from the first scrape, at 0.
	for _, r := range []string{sessions.LoginOK, sessions.LoginFailed, sessions.LoginThrottled, sessions.LoginUnavailable} {
		m.logins.WithLabelValues(r)
	}
	for _, k := range []string{sessions.ThrottleLogin, sessions.ThrottleCreate, sessions.ThrottleCreateAttempt, sessions.ThrottleCommandRate} {
		m.throttled.WithLabelValues(k)
	}
	for _, p := range h.config().EnabledPlugins() {
		for _, d := range []string{plugins.DirectionIn, plugins.DirectionOut} {
			m.linkEvents.WithLabelValues(p.Name, d)
			m.linkBytes.WithLabelValues(p.Name, d)
		}
		m.outboxDropped.WithLabelValues(p.Name)
	}
	if n, err := strconv.Atoi(os.Getenv(envReloads)); err == nil && n > 0 {
		m.reloads.Add(float64(n))
	}
	return m
}

// The game side's counts (sessions.Meter).

func (m *metrics) Login(result string)   { m.logins.WithLabelValues(result).Inc() }
func (m *metrics) Throttled(kind string) { m.throttled.WithLabelValues(kind).Inc() }
func (m *metrics) AccountCreated()       { m.accountsCreated.Inc() }
func (m *metrics) Command(name string, took time.Duration) {
	m.commands.WithLabelValues(name).Inc()
	m.commandDuration.Observe(took.Seconds())
}

// The links' counts (plugins.LinkMeter).

func (m *metrics) LinkEvents(plugin, direction string, events, bytes int) {
	key := linkKey{plugin, direction}
	c, ok := m.links.Load(key)
	if !ok {
		c, _ = m.links.LoadOrStore(key, &linkCounters{
			events: m.linkEvents.WithLabelValues(plugin, direction),
			bytes:  m.linkBytes.WithLabelValues(plugin, direction)})
	}
	lc := c.(*linkCounters)
	lc.events.Add(float64(events))
	lc.bytes.Add(float64(bytes))
}

func (m *metrics) OutboxDropped(plugin string, events int) {
	m.outboxDropped.WithLabelValues(plugin).Add(float64(events))
}

var (
	_ sessions.Meter       = (*metrics)(nil)
	_ plugins.LinkMeter    = (*metrics)(nil)
	_ prometheus.Collector = (*stateCollector)(nil)
	_ prometheus.Collector = (*reloadHistogram)(nil)
)

// sessionFeatures are the boolean protocol flags portico_session_features
// counts: a fixed list, so that its label values stay bounded whatever a
// plugin sends.
var sessionFeatures = []string{"MCCP", "MXP", "OOB", contract.FlagANSI, contract.FlagXterm256, contract.FlagTrueColor,
	contract.FlagUTF8, contract.FlagScreenReader, contract.FlagNoColor, "TTYPE"}

// stateCollector reads the host's state at each scrape.
type stateCollector struct{ h *Host }

var (
	descSessions = prometheus.NewDesc("portico_sessions", "Sessions by plugin and state: connected (not logged in) or logged_in.",
		[]string{"plugin", "state"}, nil)
	descPluginUp = prometheus.NewDesc("portico_plugin_up", "1 while the plugin runs, else 0.", []string{"plugin"}, nil)
	descRestarts = prometheus.NewDesc("portico_plugin_restarts_total", "Times the host restarted the plugin (after a death, or asked to).",
		[]string{"plugin"}, nil)
	descOutbox   = prometheus.NewDesc("portico_outbox_depth", "Events waiting for the plugin's Link.", []string{"plugin"}, nil)
	descFeatures = prometheus.NewDesc("portico_session_features", "Sessions by plugin with each negotiated feature on, as the plugin reports it over the Link "+
		"in the session's protocol flags (MCCP, MXP, OOB for GMCP/MSDP, ANSI, XTERM256, TRUECOLOR, UTF-8, SCREENREADER, NOCOLOR, TTYPE).",
		[]string{"plugin", "feature"}, nil)
	descBotState = prometheus.NewDesc("portico_bot_state", "1 for each bridge bot's current state (not running, started, or the state its plugin reports).",
		[]string{"bot", "state"}, nil)
)

// The plugins' own figures, as they report them over the Link
// (plugins.Figures): counted on the plugins' side of their sockets, so a
// remote plugin's too. Counters add up every process of a plugin.
var (
	descClientBytes = prometheus.NewDesc("portico_plugin_client_bytes_total",
		"Bytes the plugin read from (in) and wrote to (out) its clients' sockets (a bot's: its server's), as it reports them; under TLS, encrypted bytes.",
		[]string{"plugin", "direction"}, nil)
	descConnections = prometheus.NewDesc("portico_plugin_connections",
		"Client connections the plugin holds open: every accepted socket, session or not yet (queued, in a handshake), and a bot's connection to its server.",
		[]string{"plugin"}, nil)
	descAccepted = prometheus.NewDesc("portico_plugin_connections_accepted_total",
		"Client connections the plugin accepted (those a limit refused after accepting them included).", []string{"plugin"}, nil)
	descRefused = prometheus.NewDesc("portico_plugin_connections_refused_total",
		"Client connections the plugin refused, by reason: address_limit (limits.connections_per_ip), queue (the connection-rate queue), file_limit (the process's open-file limit).",
		[]string{"plugin", "reason"}, nil)
	descFigureCounter = prometheus.NewDesc("portico_plugin_figure_total", "A counter of the plugin's own (sdk Portal.AddFigure), by name.",
		[]string{"plugin", "name"}, nil)
	descFigureGauge = prometheus.NewDesc("portico_plugin_figure", "A gauge of the plugin's own (sdk Portal.SetFigure), by name.",
		[]string{"plugin", "name"}, nil)
)

// Reasons of portico_plugin_connections_refused_total.
const (
	refusedAddressLimit = "address_limit"
	refusedQueue        = "queue"
	refusedFileLimit    = "file_limit"
)

// collectFigures sends each plugin's figures; a plugin that has not
// reported yet shows none.
func collectFigures(ch chan<- prometheus.Metric, figs map[string]plugins.Figures) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for name, f := range figs {
		counter(descClientBytes, float64(f.ClientBytesIn), name, plugins.DirectionIn)
		counter(descClientBytes, float64(f.ClientBytesOut), name, plugins.DirectionOut)
		ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(f.ConnectionsOpen), name)
		counter(descAccepted, float64(f.ConnectionsAccepted), name)
		counter(descRefused, float64(f.RefusedAddressLimit), name, refusedAddressLimit)
		counter(descRefused, float64(f.RefusedQueue), name, refusedQueue)
		counter(descRefused, float64(f.RefusedFileLimit), name, refusedFileLimit)
		for fig, v := range f.Counters {
			counter(descFigureCounter, v, name, fig)
		}
		for fig, v := range f.Gauges {
			ch <- prometheus.MustNewConstMetric(descFigureGauge, prometheus.GaugeValue, v, name, fig)
		}
	}
}

// Describe sends the descriptions of what Collect reads.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descPluginUp, descRestarts, descOutbox, descFeatures, descBotState,
		descClientBytes, descConnections, descAccepted, descRefused, descFigureCounter, descFigureGauge} {
		ch <- d
	}
}

// Collect reads the sessions and bots on the loop (bounded in time: a
// loop that does not answer leaves them out of this scrape), and the
// plugins' states.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.h
	st := h.manager.Statuses()
	counts := map[[2]string]int{}
	for _, p := range st {
		// Every plugin shows both states, at 0 when it has no session.
		counts[[2]string{p.Name, "connected"}] += 0
		counts[[2]string{p.Name, "logged_in"}] += 0
	}
	features := map[[2]string]int{}
	bots := map[[2]string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := h.handler.Call(ctx, func() {
		for _, s := range h.handler.Sessions() {
			state := "connected"
			if s.LoggedIn {
				state = "logged_in"
			}
			counts[[2]string{s.Plugin, state}]++
			for _, f := range sessionFeatures {
				if s.FlagBool(f) {
					features[[2]string{s.Plugin, f}]++
				}
			}
		}
		for _, b := range h.channels.Bots() {
			state, _, _ := strings.Cut(h.channels.BotState(b), " since ")
			bots[[2]string{b.Name, state}] = true
		}
	}); err != nil {
		h.log.Warn("metrics: sessions not read", "err", err)
	} else {
		for k, n := range counts {
			ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(n), k[0], k[1])
		}
		for k, n := range features {
			ch <- prometheus.MustNewConstMetric(descFeatures, prometheus.GaugeValue, float64(n), k[0], k[1])
		}
		for k := range bots {
			ch <- prometheus.MustNewConstMetric(descBotState, prometheus.GaugeValue, 1, k[0], k[1])
		}
	}
	depths := h.manager.OutboxDepths()
	for _, p := range st {
		up := 0.0
		if p.State == plugins.StateRunning {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descPluginUp, prometheus.GaugeValue, up, p.Name)
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(p.Restarts), p.Name)
		ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(depths[p.Name]), p.Name)
	}
	collectFigures(ch, h.manager.Figures())
}

// serveMetrics serves /metrics on addr; it returns once the listener is
// open, with stop, which stops the server and waits for it.
func serveMetrics(addr string, m *metrics, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("host: server.metrics_listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics: serve", "err", err)
		}
	}()
	log.Info("metrics served", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}
