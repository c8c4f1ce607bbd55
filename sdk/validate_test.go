package sdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/portico-mud/portico/sdk/plugintest/conntest"
	"github.com/portico-mud/portico/sdk/portalpb"
	"google.golang.org/grpc/codes"
)

// TestConfigDecodeEveryProblem: Decode reports every unknown key (with
// the nearest known one) and every bad value, each naming its key, and
// fills what it could.
func TestConfigDecodeEveryProblem(t *testing.T) {
	c := defaults()
	err := (Config{Raw: map[string]any{
		"lisen":   ":4000",
		"port":    "x",
		"verbose": true,
		"zzzzzz":  1,
		"tls":     map[string]any{"cret": "a.pem", "port": float64(1)},
	}}).Decode(&c)
	got := ConfigProblems(err)
	want := []ConfigError{
		{Msg: `unknown key "lisen" (did you mean "listen"?)`, Unknown: "lisen"},
		{Key: "port", Msg: "want a whole number, got a string"},
		{Key: "tls", Msg: `unknown key "cret" (did you mean "cert"?)`, Unknown: "tls.cret"},
		{Msg: `unknown key "zzzzzz"`, Unknown: "zzzzzz"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("problems:\n%+v\nwant\n%+v", got, want)
	}
	if !c.Verbose || c.TLS.Port != 1 {
		t.Errorf("the good keys were not decoded: %+v", c)
	}
}

// TestConfigDecodeDuration: a Duration's own error names its key.
func TestConfigDecodeDuration(t *testing.T) {
	var c struct {
		Keepalive Duration `json:"keepalive"`
	}
	err := (Config{Raw: map[string]any{"keepalive": "soon"}}).Decode(&c)
	ps := ConfigProblems(err)
	if len(ps) != 1 || ps[0].Key != "keepalive" || !strings.Contains(ps[0].Msg, `want a duration ("30s", "5m") or a number of seconds, got string "soon"`) {
		t.Fatalf("problems = %+v", ps)
	}
}

// TestConfigProblems: joined, wrapped and plain errors all become problems.
func TestConfigProblems(t *testing.T) {
	err := errors.Join(
		fmt.Errorf("telnet: %w", KeyError("listen", "bad")),
		errors.New("something else"),
		fmt.Errorf("two: %w and %w", KeyError("a", "x"), KeyError("b", "y")),
	)
	got := ConfigProblems(err)
	want := []ConfigError{{Key: "listen", Msg: "bad"}, {Msg: "something else"}, {Key: "a", Msg: "x"}, {Key: "b", Msg: "y"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if ConfigProblems(nil) != nil {
		t.Error("nil has problems")
	}
	if s := KeyError("listen", "bad").Error(); s != `config key "listen": bad` {
		t.Errorf("Error() = %q", s)
	}
}

// TestCheckListen: a free address passes and stays free, a taken one is
// reported naming the address, one the running plugin holds passes, and
// a malformed one is refused.
func TestCheckListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	free := conntest.FreeAddr(t)

	if err := (Config{}).CheckListen("listen", free); err != nil {
		t.Errorf("free address: %v", err)
	}
	again, err := net.Listen("tcp", free)
	if err != nil {
		t.Fatalf("CheckListen kept %s: %v", free, err)
	}
	again.Close()

	err = (Config{}).CheckListen("listen", taken)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "listen" || ce.Msg != taken+": address already in use" {
		t.Fatalf("taken address: %#v", err)
	}
	if err := (Config{Listening: []string{taken}}).CheckListen("listen", taken); err != nil {
		t.Errorf("an address the plugin holds: %v", err)
	}
	if err := (Config{}).CheckListen("listen", "nohost"); err == nil || !strings.Contains(err.Error(), "is not host:port") {
		t.Errorf("malformed address: %v", err)
	}
	if err := (Config{}).CheckListen("listen", ""); err != nil {
		t.Errorf("empty address: %v", err)
	}
}

func TestHeld(t *testing.T) {
	for _, tt := range []struct {
		addr string
		held []string
		want bool
	}{
		{":4000", []string{"[::]:4000"}, true},
		{"0.0.0.0:4000", []string{"[::]:4000"}, true},
		{":4000", []string{"0.0.0.0:4000"}, true},
		{"127.0.0.1:4000", []string{"127.0.0.1:4000"}, true},
		{"localhost:4000", []string{"127.0.0.1:4000"}, true},
		{"127.0.0.1:4000", []string{"127.0.0.1:4001"}, false},
		{"127.0.0.1:4000", []string{"[::]:4000"}, false},
		{":4000", []string{"127.0.0.1:4000"}, false},
		{"127.0.0.1:0", []string{"127.0.0.1:0"}, false},
		{":4000", nil, false},
	} {
		if got := held(tt.addr, tt.held); got != tt.want {
			t.Errorf("held(%q, %q) = %v, want %v", tt.addr, tt.held, got, tt.want)
		}
	}
}

// validatingPlugin is a testPlugin with Validate and Reconfigure.
type validatingPlugin struct {
	*testPlugin
	mu           sync.Mutex
	validated    []Config
	reconfigured []Config
	// reconfigure answers Reconfigure.
	reconfigure func(cfg Config) (Info, error)
}

func (p *validatingPlugin) Validate(_ context.Context, cfg Config) error {
	p.mu.Lock()
	p.validated = append(p.validated, cfg)
	p.mu.Unlock()
	var c struct {
		Listen string `json:"listen"`
	}
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	return cfg.CheckListen("listen", c.Listen)
}

func (p *validatingPlugin) Reconfigure(_ context.Context, cfg Config) (Info, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reconfigured = append(p.reconfigured, cfg)
	return p.reconfigure(cfg)
}

// TestServerValidate: Validate hands the block, the host's facts and the
// held addresses to the plugin and answers its problems; the plugin is not
// configured by it. A plugin without Validate answers Unimplemented.
func TestServerValidate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	p := &validatingPlugin{testPlugin: newTestPlugin()}
	h := newHarness(t, p)
	ctx := testCtx(t)

	resp, err := h.client.Validate(ctx, &portalpb.ValidateRequest{
		ConfigJson: fmt.Appendf(nil, `{"lisen": "x", "listen": %q}`, taken), Host: hostInfo(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, pr := range resp.GetProblems() {
		got = append(got, fmt.Sprintf("%s|%s|%s", pr.GetKey(), pr.GetMessage(), pr.GetUnknownKey()))
	}
	want := []string{`|unknown key "lisen" (did you mean "listen"?)|lisen`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %q, want %q", got, want)
	}

	resp, err = h.client.Validate(ctx, &portalpb.ValidateRequest{ConfigJson: fmt.Appendf(nil, `{"listen": %q}`, taken)})
	if err != nil || len(resp.GetProblems()) != 1 || resp.GetProblems()[0].GetMessage() != taken+": address already in use" {
		t.Errorf("taken address: %v, %v", resp, err)
	}
	resp, err = h.client.Validate(ctx, &portalpb.ValidateRequest{ConfigJson: fmt.Appendf(nil, `{"listen": %q}`, taken),
		Host: hostInfo(0, 0), HeldAddresses: []string{taken}})
	if err != nil || len(resp.GetProblems()) != 0 {
		t.Errorf("held address: %v, %v", resp, err)
	}
	p.mu.Lock()
	last := p.validated[len(p.validated)-1]
	p.mu.Unlock()
	if last.Host.ServerName != "Test MUD" || !reflect.DeepEqual(last.Listening, []string{taken}) {
		t.Errorf("Validate got %+v", last)
	}
	resp, err = h.client.Validate(ctx, &portalpb.ValidateRequest{ConfigJson: []byte(`[1]`)})
	if err != nil || len(resp.GetProblems()) != 1 || !strings.Contains(resp.GetProblems()[0].GetMessage(), "not a JSON object") {
		t.Errorf("not an object: %v, %v", resp, err)
	}
	if n, _, _ := p.state(); n != 0 {
		t.Errorf("Validate configured the plugin %d times", n)
	}

	plain := newHarness(t, newTestPlugin())
	if _, err := plain.client.Validate(ctx, &portalpb.ValidateRequest{}); code(err) != codes.Unimplemented {
		t.Errorf("a plugin without Validate: %v, want Unimplemented", err)
	}
}

// TestServerReconfigure: a second Configure with the same config and host
// facts changes nothing; a new config or new facts reach a Reconfigurer,
// whose answer (applied, restart needed, refused) the host is told; a
// plugin without Reconfigure says a restart is needed but its portal takes
// the host's new limits.
func TestServerReconfigure(t *testing.T) {
	p := &validatingPlugin{testPlugin: newTestPlugin()}
	p.reconfigure = func(cfg Config) (Info, error) {
		switch cfg.Raw["listen"] {
		case "restart":
			return Info{}, RestartNeeded("tls_listen")
		case "fail":
			return Info{}, KeyError("listen", "cannot listen")
		}
		return Info{ProtocolKey: "test", Listeners: []Listener{{Name: "test", Address: fmt.Sprint(cfg.Raw["listen"])}}}, nil
	}
	h := newHarness(t, p)
	first := h.configure(t, `{"listen": "a"}`, hostInfo(100, 10))
	if first.GetReconfigured() != portalpb.Reconfigured_RECONFIGURED_UNSPECIFIED {
		t.Errorf("first Configure: %v", first.GetReconfigured())
	}
	if r := h.configure(t, `{"listen": "a"}`, hostInfo(200, 10)); r.GetReconfigured() != portalpb.Reconfigured_RECONFIGURED_UNCHANGED {
		t.Errorf("same config again: %v", r)
	}
	r := h.configure(t, `{"listen": "b"}`, hostInfo(0, 0))
	if r.GetReconfigured() != portalpb.Reconfigured_RECONFIGURED_APPLIED || len(r.GetListeners()) != 1 || r.GetListeners()[0].GetAddress() != "b" {
		t.Errorf("new config: %v", r)
	}
	limits := hostInfo(0, 0)
	limits.MaxInputLength = 40
	limits.ConnectionsPerIp = 3
	if r := h.configure(t, `{"listen": "b"}`, limits); r.GetReconfigured() != portalpb.Reconfigured_RECONFIGURED_APPLIED {
		t.Errorf("new limits: %v", r)
	}
	p.mu.Lock()
	last := p.reconfigured[len(p.reconfigured)-1]
	n := len(p.reconfigured)
	p.mu.Unlock()
	if n != 2 || last.Host.MaxInputLength != 40 || h.srv.Portal().Host().ConnectionsPerIP != 3 {
		t.Errorf("Reconfigure calls %d, last host %+v", n, last.Host)
	}
	r = h.configure(t, `{"listen": "restart"}`, limits)
	if r.GetReconfigured() != portalpb.Reconfigured_RECONFIGURED_RESTART_NEEDED || !strings.Contains(r.GetRestartReason(), `"tls_listen"`) {
		t.Errorf("a change that needs a restart: %v", r)
	}
	if _, err := h.client.Configure(testCtx(t), &portalpb.ConfigureRequest{ConfigJson: []byte(`{"listen": "fail"}`), Host: limits}); code(err) != codes.InvalidArgument {
		t.Errorf("a refused change: %v", err)
	}
	// Neither of the last two changed what the plugin runs with.
	if r := h.configure(t, `{"listen": "b"}`, limits); r.GetReconfigured() != portalpb.Reconfigured_RECONFIGURED_UNCHANGED {
		t.Errorf("the running config: %v", r)
	}
	if cfgs, _, _ := p.state(); cfgs != 1 {
		t.Errorf("Configure reached the plugin %d times", cfgs)
	}

	plain := newHarness(t, newTestPlugin())
	plain.configure(t, `{}`, hostInfo(1, 10))
	r = plain.configure(t, `{}`, limits)
	if r.GetReconfigured() != portalpb.Reconfigured_RECONFIGURED_RESTART_NEEDED || plain.srv.Portal().Host().ConnectionsPerIP != 3 {
		t.Errorf("a plugin without Reconfigure: %v, portal host %+v", r, plain.srv.Portal().Host())
	}
}
