package main

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
)

// Which pages may open a websocket here. A browser names the page's origin
// (scheme, host and port) in the Origin header; clients that are no
// browser send none and are not concerned. Evennia serves its page on one
// port (4001) and the websocket on another (4002), so a page's own host is
// allowed on any port: "the page's own host is always allowed" holds for
// that layout too. Other sites need allowed_origins, where a pattern
// without a port matches its host on every port (`127.0.0.1`,
// `game.example`, `*.game.example`, `https://game.example`), and one with
// a port only that port (`game.example:8443`). The websocket library's own
// check compares host and port, which refused both.

// checkOrigin returns nil when the request may open a websocket: it has no
// Origin, the page is on the host the request was made to (any port), or
// a pattern of allowed matches it.
func checkOrigin(origin, requestHost string, allowed []string) error {
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return fmt.Errorf("request Origin %q is not a valid URL with a host", origin)
	}
	if strings.EqualFold(u.Hostname(), hostOnly(requestHost)) {
		return nil
	}
	for _, pattern := range allowed {
		if originMatches(pattern, u) {
			return nil
		}
	}
	return fmt.Errorf("request Origin %q is not authorized for Host %q", u.Host, requestHost)
}

// originMatches reports whether pattern (path.Match syntax, letter case
// ignored) allows the page at u.
func originMatches(pattern string, u *url.URL) bool {
	pattern = strings.ToLower(pattern)
	scheme, host, hasScheme := strings.Cut(pattern, "://")
	if !hasScheme {
		host, scheme = scheme, ""
	}
	target := strings.ToLower(u.Host)
	if !hasPort(host) {
		// A pattern without a port is for every port of its host.
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		target = strings.ToLower(u.Hostname())
	}
	if hasScheme {
		host, target = scheme+"://"+host, strings.ToLower(u.Scheme)+"://"+target
	}
	ok, err := path.Match(host, target)
	return err == nil && ok
}

// hasPort reports whether a host pattern names a port ("game.example:8443",
// "[::1]:8443").
func hasPort(host string) bool {
	_, port, err := net.SplitHostPort(host)
	return err == nil && port != ""
}

// hostOnly is a Host header's host without its port.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}
