package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestPage: the page is served at / with the game's name, the host's
// line limit and a policy that forbids inline scripts; its files are
// embedded and revalidated by ETag; nothing refers outside the server.
func TestPage(t *testing.T) {
	h := newHarness(t, nil)
	resp, body := h.get("/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"<title>TestGame</title>", `data-max-input="100"`, `src="static/webclient.js"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "connect-src 'self' ws://"+strings.TrimPrefix(h.http, "http://")) {
		t.Errorf("policy %q", csp)
	}
	for _, name := range []string{"webclient.js", "webclient.css", "colors.css"} {
		resp, body := h.get("/static/" + name)
		if resp.StatusCode != http.StatusOK || body == "" || resp.Header.Get("ETag") == "" {
			t.Fatalf("GET /static/%s = %d, etag %q", name, resp.StatusCode, resp.Header.Get("ETag"))
		}
		for _, ref := range []string{"http://", "https://", "//cdn", "@import"} {
			if strings.Contains(body, ref) {
				t.Errorf("%s refers outside the server: %q", name, ref)
			}
		}
		req, _ := http.NewRequest(http.MethodGet, h.http+"/static/"+name, nil)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		again, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		again.Body.Close()
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("revalidating %s: %d", name, again.StatusCode)
		}
	}
	if resp, _ := h.get("/static/webclient.js"); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("script served as %q", resp.Header.Get("Content-Type"))
	}
	if resp, _ := h.get("/static/nothing.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a missing file: %d", resp.StatusCode)
	}
	if resp, _ := h.get("/elsewhere"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown path: %d", resp.StatusCode)
	}
	// /ws without an upgrade is refused by the websocket handshake.
	if resp, _ := h.get("/ws"); resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("GET /ws without an upgrade: %d", resp.StatusCode)
	}
}

func TestPalette(t *testing.T) {
	css := string(paletteCSS())
	for _, want := range []string{
		".color-000{color:#000000}", ".color-009{color:#ff0000}", ".color-007{color:#c0c0c0}",
		".color-016{color:#000000}", ".color-196{color:#ff0000}", ".color-021{color:#0000ff}",
		".color-231{color:#ffffff}", ".color-232{color:#080808}", ".color-255{color:#eeeeee}",
		".bgcolor-004{background-color:#1e64ff}",
	} {
		if !strings.Contains(css, want) {
			t.Errorf("palette lacks %s", want)
		}
	}
	if n := strings.Count(css, "{"); n != 512 {
		t.Errorf("%d rules, want 512", n)
	}
}
