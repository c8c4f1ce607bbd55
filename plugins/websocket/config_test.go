package main

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
)

func TestConfigDefaults(t *testing.T) {
	c := defaultConfig()
	if err := (sdk.Config{Raw: map[string]any{}}).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":4002" || time.Duration(c.ResumeGrace) != 30*time.Second || c.CommandRate != 80 ||
		strings.Join(c.Subprotocols, ",") != "json.mudstandards.org,gmcp.mudstandards.org,terminal.mudstandards.org,v1.evennia.com" {
		t.Fatalf("defaults %+v", c)
	}
	for _, tt := range []struct {
		cfg  int
		host int
		want int
	}{{0, 6000, 25024}, {0, 0, 65536}, {4096, 6000, 4096}} {
		c.MaxMessageSize = tt.cfg
		if got := c.messageLimit(tt.host); got != tt.want {
			t.Errorf("messageLimit(max_message_size %d, host %d) = %d, want %d", tt.cfg, tt.host, got, tt.want)
		}
	}
}

// TestConfigErrorsNameTheKey: every bad value is refused with the key's
// name, so the host's log says what to fix.
func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tt := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"listen": "4002"}, "listen"},
		{map[string]any{"lisen": ":4002"}, `"lisen"`},
		{map[string]any{"subprotocols": []any{"v2.evennia.com"}}, "subprotocols"},
		{map[string]any{"subprotocols": []any{"v1.evennia.com", "V1.evennia.com"}}, "subprotocols"},
		{map[string]any{"resume_grace": "soon"}, "resume_grace"},
		{map[string]any{"resume_grace": "-1s"}, "resume_grace"},
		{map[string]any{"ping_timeout": 0}, "ping_timeout"},
		{map[string]any{"max_message_size": 10}, "max_message_size"},
		{map[string]any{"command_rate": -1}, "command_rate"},
		{map[string]any{"output_buffer": 0}, "output_buffer"},
		{map[string]any{"allowed_origins": []any{"*"}}, "allowed_origins"},
		{map[string]any{"trusted_proxies": []any{"proxy.local"}}, "trusted_proxies"},
		{map[string]any{"tls_cert": "cert.pem"}, "tls_key"},
	} {
		c := defaultConfig()
		err := (sdk.Config{Raw: tt.raw}).Decode(&c)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config %v: error %v, want one naming %s", tt.raw, err, tt.want)
		}
	}
	for _, raw := range []map[string]any{
		{"resume_grace": 0, "ping_interval": 0, "ping_timeout": 0},
		{"resume_grace": 90, "subprotocols": []any{}},
		{"trusted_proxies": []any{"10.0.0.0/8", "::1", "127.0.0.1"}},
	} {
		c := defaultConfig()
		if err := (sdk.Config{Raw: raw}).Decode(&c); err != nil {
			t.Errorf("config %v: %v", raw, err)
			continue
		}
		if err := c.Validate(); err != nil {
			t.Errorf("config %v: %v", raw, err)
		}
	}
}

func TestConfigureFails(t *testing.T) {
	p := &Plugin{}
	_, err := p.Configure(t.Context(), sdk.Config{Raw: map[string]any{"listen": "127.0.0.1:0", "bogus": 1}},
		sdk.NewTestPortal(testLogger()))
	if err == nil || !strings.HasPrefix(err.Error(), "websocket: ") {
		t.Fatalf("error %v", err)
	}
}

func TestParseQuery(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	for _, tt := range []struct {
		raw  string
		want query
	}{
		{"", query{}},
		{id, query{csessid: id}},
		{id + "&Chrome%20120", query{csessid: id, browser: "Chrome 120"}},
		{id + "&cafe01&Firefox%20140", query{csessid: id, cuid: "cafe01", browser: "Firefox 140"}},
		{id + "&cuid&Fire&fox", query{csessid: id, cuid: "cuid", browser: "Fire&fox"}},
		{"csessid=" + id + "&browser=Safari+17", query{csessid: id, browser: "Safari 17"}},
		{"None&x&Chrome", query{cuid: "x", browser: "Chrome"}},
		{"short&x&Chrome", query{cuid: "x", browser: "Chrome"}},
		{id + "&x&Evil%1b%5b31m%07" + strings.Repeat("a", 100), query{csessid: id, cuid: "x", browser: "Evil[31m" + strings.Repeat("a", 56)}},
		{"%zz&x&%zz", query{cuid: "x", browser: "%zz"}},
	} {
		if got := parseQuery(tt.raw); got != tt.want {
			t.Errorf("parseQuery(%q) = %+v, want %+v", tt.raw, got, tt.want)
		}
	}
}

func TestClientAddress(t *testing.T) {
	proxies, err := parseProxies([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		peer, xff string
		proxies   []netip.Prefix
		want      string
	}{
		{"203.0.113.5:4242", "1.2.3.4", proxies, "203.0.113.5:4242"},
		{"127.0.0.1:4242", "", proxies, "127.0.0.1:4242"},
		{"127.0.0.1:4242", "198.51.100.7", proxies, "198.51.100.7"},
		{"127.0.0.1:4242", "6.6.6.6, 198.51.100.7, 10.1.2.3", proxies, "198.51.100.7"},
		{"127.0.0.1:4242", "garbage, 10.1.2.3", proxies, "127.0.0.1:4242"},
		{"127.0.0.1:4242", "198.51.100.7", nil, "127.0.0.1:4242"},
		{"[::ffff:127.0.0.1]:4242", "2001:db8::1", proxies, "2001:db8::1"},
	} {
		r := &http.Request{RemoteAddr: tt.peer, Header: http.Header{}}
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := clientAddress(r, tt.proxies); got != tt.want {
			t.Errorf("clientAddress(%s, %q) = %s, want %s", tt.peer, tt.xff, got, tt.want)
		}
	}
}

// TestClientAddressForwarded: RFC 7239's Forwarded header is read as
// X-Forwarded-For is (for= of each element, ports and brackets dropped,
// quotes too), and wins over it when both are there; an obfuscated or
// unknown hop stops the walk.
func TestClientAddressForwarded(t *testing.T) {
	proxies, err := parseProxies([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		fwd, xff, want string
	}{
		{"for=198.51.100.7;proto=https", "", "198.51.100.7"},
		{`for="[2001:db8:cafe::17]:4711"`, "", "2001:db8:cafe::17"},
		{"for=6.6.6.6, for=198.51.100.7;by=10.0.0.1, for=10.1.2.3", "", "198.51.100.7"},
		{"For=198.51.100.7:8080", "203.0.113.9", "198.51.100.7"},
		{"for=_hidden, for=10.1.2.3", "", "127.0.0.1:4242"},
		{"for=unknown", "", "127.0.0.1:4242"},
		{"proto=https", "", "127.0.0.1:4242"},
	} {
		r := &http.Request{RemoteAddr: "127.0.0.1:4242", Header: http.Header{}}
		r.Header.Set("Forwarded", tt.fwd)
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := clientAddress(r, proxies); got != tt.want {
			t.Errorf("Forwarded %q (X-Forwarded-For %q): %s, want %s", tt.fwd, tt.xff, got, tt.want)
		}
	}
}

func TestRateLimiter(t *testing.T) {
	l := newRateLimiter(2)
	t0 := time.Unix(1000, 0)
	for i, tt := range []struct {
		at       time.Duration
		ok, warn bool
	}{
		{0, true, false}, {0, true, false}, // the burst
		{0, false, true},                       // told
		{100 * time.Millisecond, false, false}, // not told twice in a second
		{600 * time.Millisecond, true, false},  // a token earned
		{1600 * time.Millisecond, true, false}, // and another two
		{1600 * time.Millisecond, true, false}, //
		{1600 * time.Millisecond, false, true}, // told again after a second
		{10 * time.Second, true, false},        // the bucket holds at most the burst
		{10 * time.Second, true, false},        //
		{10 * time.Second, false, true},        //
	} {
		ok, warn := l.allow(t0.Add(tt.at))
		if ok != tt.ok || warn != tt.warn {
			t.Errorf("step %d at %v: allow = %v, %v; want %v, %v", i, tt.at, ok, warn, tt.ok, tt.warn)
		}
	}
	if ok, _ := newRateLimiter(0).allow(t0); !ok {
		t.Error("rate 0 limited")
	}
}

func TestOutQueue(t *testing.T) {
	q := outQueue{max: 300}
	for i := range 10 {
		q.push(sdk.Text(strings.Repeat("x", 40+i)))
	}
	msgs := q.take()
	if !strings.Contains(msgs[0].Args[0].(string), "messages of output were lost") {
		t.Fatalf("no notice: %#v", msgs[0])
	}
	kept := msgs[1:]
	if last := kept[len(kept)-1].Args[0].(string); len(last) != 49 {
		t.Fatalf("newest output dropped: %q", last)
	}
	if !q.empty() {
		t.Fatal("take left something")
	}
	// A single message larger than the bound is kept, not dropped.
	q.push(sdk.Text(strings.Repeat("y", 1000)))
	if msgs := q.take(); len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	q.push(sdk.Text("b"))
	q.unshift(sdk.Text("a"))
	if msgs := q.take(); len(msgs) != 2 || msgs[0].Args[0] != "a" {
		t.Fatalf("unshift: %#v", msgs)
	}
}
