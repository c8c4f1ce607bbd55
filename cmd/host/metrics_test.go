package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches and parses /metrics with the Prometheus text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return fams
}

// metricValue returns the value of the series of family name whose labels
// are labels ("k=v,k=v"; "" for none), and whether it is there.
func metricValue(fams map[string]*dto.MetricFamily, name, labels string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	want := map[string]string{}
	for kv := range strings.SplitSeq(labels, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			want[k] = v
		}
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if want[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// TestMetricsAfterScriptedSession: after a scripted session — an account
// created and logged in, failed logins up to a throttle, commands, a
// plugin killed, a reload — /metrics (server.metrics_listen) parses with
// the Prometheus text parser and shows each of the host's metrics with
// the value the session made, beside Go's runtime and process metrics.
func TestMetricsAfterScriptedSession(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", conntest.FreePort(t))
	h := startHostWith(t, hostOptions{
		// Pinged, and so sending their figures, five times a second.
		env:    []string{"PORTICO_SERVER_METRICS_LISTEN=" + addr, "PORTICO_SERVER_PLUGIN_PING_INTERVAL=200ms"},
		limits: testLimits + "  login_failures: 2\n",
		extra:  ircPlugin,
	})
	h.waitPlugin("irc", func(p pluginStatus) bool { return p.State == "running" })
	want := func(fams map[string]*dto.MetricFamily, name, labels string, v float64) {
		t.Helper()
		got, ok := metricValue(fams, name, labels)
		if !ok {
			t.Errorf("%s{%s}: not in the scrape", name, labels)
		} else if got != v {
			t.Errorf("%s{%s} = %v, want %v", name, labels, got, v)
		}
	}
	atLeast := func(fams map[string]*dto.MetricFamily, name, labels string, v float64) float64 {
		t.Helper()
		got, ok := metricValue(fams, name, labels)
		if !ok || got < v {
			t.Errorf("%s{%s} = %v (there: %v), want at least %v", name, labels, got, ok, v)
		}
		return got
	}

	fams := scrape(t, addr)
	want(fams, "portico_logins_total", "result=ok", 0)
	want(fams, "portico_reloads_total", "", 0)
	want(fams, "portico_plugin_up", "plugin=telnet", 1)
	want(fams, "portico_plugin_restarts_total", "plugin=telnet", 0)

	// A bot that cannot reach its network: it exists, in one state.
	mustPortico(t, h, "", "", "bot", "add", "metbot", "--protocol", "irc", "--channel", "public",
		"network=127.0.0.1", fmt.Sprintf("port=%d", conntest.FreePort(t)), "channel=#m", "nick=metbot")

	c := dialTelnet(t, h.telnetAddr)
	c.expect("Welcome to TestGame")
	c.send("create Mira mirapass1")
	c.expect("A new account 'Mira' was created.")
	bad := dialFrom(t, "127.0.0.2", h.telnetAddr)
	bad.expect("Welcome to TestGame")
	failLogins(bad, "Mira", 2)
	bad.send("connect Mira mirapass1")
	bad.expect("Too many login failures")
	c.send("connect Mira mirapass1")
	c.expect("You become Mira.")
	c.send("say hello metrics")
	c.expect("You say, \"hello metrics\"")
	c.send("frobnicate")
	c.expect("Command 'frobnicate' is not available.")
	c.send("public hi channel")
	c.expect("[public] Mira: hi channel")

	// A client that takes MCCP: the telnet plugin reports it in the
	// session's flags over the Link. (Its output is compressed from then
	// on; nothing more is read from it.)
	z := dialTelnet(t, h.telnetAddr)
	z.expect("Welcome to TestGame")
	z.sendRaw([]byte{255, 253, 86}) // IAC DO MCCP2
	z.expect(string([]byte{255, 250, 86, 255, 240}))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v, _ := metricValue(scrape(t, addr), "portico_session_features", "plugin=telnet,feature=MCCP"); v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("portico_session_features{feature=MCCP} never reached 1")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The telnet plugin's own figures, reported over the Link: to the
	// byte what its clients sent and read, and a connection for each.
	clients := []*telnetClient{c, bad, z}
	sentRead := func(cs ...*telnetClient) (sent, read float64) {
		for _, cl := range cs {
			sent += float64(cl.sent.Load())
			read += float64(cl.Mark())
		}
		return sent, read
	}
	fig := awaitFigures(t, addr, "telnet", "bytes equal to what its 3 clients sent and read, 3 open", func(f figures) bool {
		sent, read := sentRead(clients...)
		return f.in == sent && f.out == read && f.open == 3
	})
	if fig.in < float64(len("create Mira mirapass1\r\n")) || fig.accepted != 3 || fig.refused != [3]float64{} {
		t.Errorf("telnet's figures = %+v, want 3 accepted, none refused", fig)
	}

	fams = scrape(t, addr)
	want(fams, "portico_accounts_created_total", "", 1)
	want(fams, "portico_logins_total", "result=ok", 1)
	want(fams, "portico_logins_total", "result=failed", 2)
	want(fams, "portico_logins_total", "result=throttled", 1)
	want(fams, "portico_throttled_total", "kind=login", 1)
	want(fams, "portico_throttled_total", "kind=command_rate", 0)
	want(fams, "portico_commands_total", "command=create", 1)
	want(fams, "portico_commands_total", "command=connect", 4)
	want(fams, "portico_commands_total", "command=say", 1)
	want(fams, "portico_commands_total", "command=<unknown>", 1)
	want(fams, "portico_commands_total", "command=<channel>", 1)
	total := 0.0
	for _, m := range fams["portico_commands_total"].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	want(fams, "portico_command_duration_seconds", "", total)
	want(fams, "portico_sessions", "plugin=telnet,state=logged_in", 1)
	want(fams, "portico_sessions", "plugin=telnet,state=connected", 2)
	want(fams, "portico_session_features", "plugin=telnet,feature=MCCP", 1)
	want(fams, "portico_session_features", "plugin=telnet,feature=ANSI", 3)
	in := atLeast(fams, "portico_link_events_total", "plugin=telnet,direction=in", 10)
	out := atLeast(fams, "portico_link_events_total", "plugin=telnet,direction=out", 10)
	atLeast(fams, "portico_link_bytes_total", "plugin=telnet,direction=in", in*4)
	atLeast(fams, "portico_link_bytes_total", "plugin=telnet,direction=out", out*10)
	want(fams, "portico_outbox_depth", "plugin=telnet", 0)
	want(fams, "portico_outbox_dropped_total", "plugin=telnet", 0)
	if f := fams["portico_bot_state"]; f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("portico_bot_state: want one series of the one bot at 1, got %v", f)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_start_time_seconds", "process_resident_memory_bytes"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	dashboardUsesScrapedMetrics(t, fams)

	// A plugin killed: counted as a restart, up again. Its figures go on
	// from what the killed process had reported: its clients sent nothing
	// since, so the bytes in are exact.
	killed := scrapeFigures(t, addr, "telnet")
	telnet := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	if err := syscall.Kill(telnet.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" && p.PID != telnet.PID })
	fams = scrape(t, addr)
	want(fams, "portico_plugin_restarts_total", "plugin=telnet", 1)
	want(fams, "portico_plugin_up", "plugin=telnet", 1)
	want(fams, "portico_sessions", "plugin=telnet,state=logged_in", 0)

	// A reload: counted, timed, and the metrics served again by the new
	// image.
	d := dialTelnet(t, h.telnetAddr)
	d.login("Mira", "mirapass1", false)
	fig = awaitFigures(t, addr, "telnet", "after the kill: the killed process's counts and the new client's, 1 open", func(f figures) bool {
		sent, read := sentRead(d)
		return f.in == killed.in+sent && f.out >= killed.out+read && f.open == 1
	})
	if fig.accepted != killed.accepted+1 {
		t.Errorf("after the kill: %v connections accepted, want %v", fig.accepted, killed.accepted+1)
	}
	mustPortico(t, h, "", "reload done", "reload")
	h.waitFor("plugins back after the reload", func(st host.Status) bool {
		for _, p := range st.Plugins {
			if p.State != "running" {
				return false
			}
		}
		return true
	})
	fams = scrape(t, addr)
	want(fams, "portico_reloads_total", "", 1)
	want(fams, "portico_reload_duration_seconds", "", 1)
	if h := fams["portico_reload_duration_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleSum() <= 0 || h.GetSampleSum() > 30 {
		t.Errorf("portico_reload_duration_seconds_sum = %v, want the reload's seconds", h.GetSampleSum())
	}
	want(fams, "portico_sessions", "plugin=telnet,state=logged_in", 1)
	want(fams, "portico_plugin_up", "plugin=telnet", 1)
	// The new image goes on from the figures the old one served: the
	// reattached process's own counts, and the killed one's before it.
	awaitFigures(t, addr, "telnet", "after the reload: no less than before it, 1 open", func(f figures) bool {
		sent, _ := sentRead(d)
		return f.in == killed.in+sent && f.out >= fig.out && f.accepted == fig.accepted && f.open == 1
	})
}

// figures are what a scrape shows of a plugin's own figures.
type figures struct {
	in, out, open, accepted float64
	// refused by address_limit, queue, file_limit.
	refused [3]float64
}

// scrapeFigures scrapes a plugin's own figures.
func scrapeFigures(t *testing.T, addr, plugin string) figures {
	t.Helper()
	fams := scrape(t, addr)
	v := func(name, labels string) float64 {
		got, _ := metricValue(fams, name, "plugin="+plugin+labels)
		return got
	}
	return figures{in: v("portico_plugin_client_bytes_total", ",direction=in"), out: v("portico_plugin_client_bytes_total", ",direction=out"),
		open: v("portico_plugin_connections", ""), accepted: v("portico_plugin_connections_accepted_total", ""),
		refused: [3]float64{v("portico_plugin_connections_refused_total", ",reason=address_limit"),
			v("portico_plugin_connections_refused_total", ",reason=queue"), v("portico_plugin_connections_refused_total", ",reason=file_limit")}}
}

// awaitFigures scrapes until a plugin's figures satisfy ok (the plugin
// reports them every plugin_ping_interval) and returns them, or fails
// with the last ones.
func awaitFigures(t *testing.T, addr, plugin, what string, ok func(figures) bool) figures {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		f := scrapeFigures(t, addr, plugin)
		if ok(f) {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's figures never showed %s; last: %+v", plugin, what, f)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dashboardUsesScrapedMetrics checks that every metric the Grafana
// dashboard in deploy/ queries is one the host serves, so that it cannot
// drift from the code.
func dashboardUsesScrapedMetrics(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join("..", "..", "deploy", "grafana-portico.json"))), &dash); err != nil {
		t.Fatalf("deploy/grafana-portico.json: %v", err)
	}
	names := regexp.MustCompile(`\b(portico|go|process)_[a-z_]+`)
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range names.FindAllString(tg.Expr, -1) {
				n++
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
				if _, ok := fams[base]; !ok {
					t.Errorf("dashboard panel %q queries %s, which the host does not serve", p.Title, name)
				}
			}
		}
	}
	if n < 15 {
		t.Errorf("the dashboard queries only %d metrics", n)
	}
}
