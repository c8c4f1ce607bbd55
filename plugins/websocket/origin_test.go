package main

import "testing"

// TestCheckOrigin: no Origin, the page's own host on any port, and the
// allowed patterns (a pattern without a port for every port of its host,
// one with a port for that port only) may connect; nothing else.
func TestCheckOrigin(t *testing.T) {
	for _, tc := range []struct {
		origin, host string
		allowed      []string
		ok           bool
	}{
		{"", "127.0.0.1:4002", nil, true},
		{"http://127.0.0.1:4002", "127.0.0.1:4002", nil, true},
		// Evennia's layout: the page on 4001, the websocket on 4002.
		{"http://127.0.0.1:14080", "127.0.0.1:14002", nil, true},
		{"http://game.example", "GAME.example:4002", nil, true},
		{"http://[::1]:8080", "[::1]:4002", nil, true},
		{"http://evil.example:4002", "game.example:4002", nil, false},
		// README's example: a host alone matches it on every port.
		{"http://127.0.0.1:14080", "10.0.0.5:4002", []string{"127.0.0.1"}, true},
		{"https://www.game.example:8443", "ws.game.example", []string{"*.game.example"}, true},
		{"https://game.example:8443", "ws.example", []string{"https://game.example"}, true},
		{"http://game.example:8443", "ws.example", []string{"https://game.example"}, false},
		{"https://game.example:8443", "ws.example", []string{"game.example:8443"}, true},
		{"https://game.example:9443", "ws.example", []string{"game.example:8443"}, false},
		{"http://[::1]:8080", "ws.example", []string{"[::1]"}, true},
		{"http://game.example.evil:80", "ws.example", []string{"game.example"}, false},
		{"not a url", "ws.example", []string{"*"}, false},
	} {
		err := checkOrigin(tc.origin, tc.host, tc.allowed)
		if (err == nil) != tc.ok {
			t.Errorf("checkOrigin(%q, %q, %q) = %v, want allowed %v", tc.origin, tc.host, tc.allowed, err, tc.ok)
		}
	}
}
