package main

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"unicode"
)

// query is what a client says about itself in the websocket URL. Evennia's
// client connects to ws://host:4002/?<csessid>&<cuid>&<browser>; older ones
// send only <csessid>&<browser>. Named parameters (csessid=..., cuid=...,
// browser=...) are read too, for clients that prefer them.
type query struct {
	// csessid identifies the browser tab's session across reconnections;
	// "" when the client sent none, or one too weak to resume by.
	csessid string
	// cuid is the page's own id (Evennia's AJAX client uses it); kept for
	// the log only.
	cuid string
	// browser names the client's browser for CLIENTNAME.
	browser string
}

// csessidPattern is what a csessid must look like to resume a session. It
// is a bearer secret: whoever presents it takes the session over, so a
// short or placeholder value ("None", "null", "undefined", which template
// bugs produce) must never match another client's. The webclient sends 32
// hex digits (128 random bits); Evennia's Django session keys are 32
// lower-case letters and digits.
var csessidPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)

// maxBrowserLength bounds the browser name kept in CLIENTNAME.
const maxBrowserLength = 64

// parseQuery reads the raw query string of the websocket URL.
func parseQuery(raw string) query {
	var q query
	if raw == "" {
		return q
	}
	parts := strings.Split(raw, "&")
	named := false
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		switch k {
		case "csessid":
			q.csessid, named = unescape(v), true
		case "cuid":
			q.cuid, named = unescape(v), true
		case "browser":
			q.browser, named = unescape(v), true
		}
	}
	if !named {
		switch len(parts) {
		case 1:
			q.csessid = unescape(parts[0])
		case 2:
			q.csessid, q.browser = unescape(parts[0]), unescape(parts[1])
		default:
			q.csessid, q.cuid = unescape(parts[0]), unescape(parts[1])
			q.browser = unescape(strings.Join(parts[2:], "&"))
		}
	}
	if !csessidPattern.MatchString(q.csessid) {
		q.csessid = ""
	}
	q.cuid = printable(q.cuid, 64)
	q.browser = printable(q.browser, maxBrowserLength)
	return q
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// printable keeps the printable characters of s, at most max of them, so
// that a client cannot put control characters into logs or CLIENTNAME.
func printable(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			break
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
			n++
		}
	}
	return strings.TrimSpace(b.String())
}

// clientAddress returns the client's address: the peer's, or, when the
// peer is a trusted proxy, the last address in Forwarded's for= (RFC
// 7239) or else X-Forwarded-For that is not one (Evennia's UPSTREAM_IPS
// rule). Addresses a client could forge are never believed: only proxies
// add to the header.
func clientAddress(r *http.Request, proxies []netip.Prefix) string {
	addr := r.RemoteAddr
	if len(proxies) == 0 {
		return addr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !trusted(peer, proxies) {
		return addr
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// A hop that is not an address: nothing before it can be
			// trusted either.
			return addr
		}
		if !trusted(a, proxies) {
			return a.Unmap().String()
		}
	}
	return addr
}

// forwardedFor returns the hops a request went through, oldest first: the
// for= parameters of its Forwarded headers when it has any (RFC 7239;
// "[2001:db8::1]:4711" and "192.0.2.1:80" lose their port), otherwise its
// X-Forwarded-For entries. A hop that is no address ("unknown", an
// obfuscated "_name") is kept as it is: nothing before it is believed.
func forwardedFor(h http.Header) []string {
	fwd := h.Values("Forwarded")
	if len(fwd) == 0 {
		return strings.Split(strings.Join(h.Values("X-Forwarded-For"), ","), ",")
	}
	var hops []string
	for _, elem := range strings.Split(strings.Join(fwd, ","), ",") {
		hop := ""
		for pair := range strings.SplitSeq(elem, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok || !strings.EqualFold(k, "for") {
				continue
			}
			v = strings.Trim(v, `"`)
			if host, _, err := net.SplitHostPort(v); err == nil {
				v = host
			}
			hop = strings.Trim(v, "[]")
		}
		hops = append(hops, hop)
	}
	return hops
}

func trusted(a netip.Addr, proxies []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
