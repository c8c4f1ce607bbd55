package main

import (
	"bytes"
	"regexp"
)

// A browser pointed at the telnet port sends an HTTP request. Evennia
// answers a first line that reads as one with a short text and closes
// the connection; so does this plugin, and nothing of the request reaches
// the game as commands.

// httpRequestLine matches an HTTP/1.x request line: a method, a target,
// the version (Evennia's list of methods, any letter case).
var httpRequestLine = regexp.MustCompile(`(?i)^(GET|HEAD|POST|PUT|DELETE|TRACE|OPTIONS|CONNECT|PATCH) \S+ HTTP/[0-9]\.[0-9]$`)

// msgHTTPOnTelnet is what a browser on the telnet port is told.
const msgHTTPOnTelnet = "This is a telnet port for MUD clients. To play in a browser, open the game's webclient."

// isHTTPRequest reports whether line (without its line end) is an HTTP
// request line.
func isHTTPRequest(line []byte) bool {
	return len(line) < 8192 && httpRequestLine.Match(bytes.TrimRight(line, "\r"))
}

// httpNotice is the text for a browser on the telnet port, with the
// webclient's address when the operator set webclient_url.
func httpNotice(webclientURL string) string {
	if webclientURL == "" {
		return msgHTTPOnTelnet
	}
	return msgHTTPOnTelnet + "\nThe webclient is at " + webclientURL
}
