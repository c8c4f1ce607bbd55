package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"path"
	"regexp"

	"github.com/portico-mud/portico/sdk"
)

// The webclient: one page, its script and its stylesheets, embedded in the
// binary. Nothing is fetched from anywhere else, at build time or at run
// time, and there is no build step: web/ holds the files as served.
//
//go:embed web
var webFiles embed.FS

// site serves the page and its static files.
type site struct {
	page   []byte
	static map[string]staticFile
}

// staticFile is one file under /static/, with its validator.
type staticFile struct {
	body  []byte
	ctype string
	etag  string
}

// pageData fills the page's template.
type pageData struct {
	// Name is the game's name, the page's title.
	Name string
	// MaxInput is the longest line the host takes, in characters, so that
	// the page can refuse a longer one before sending it.
	MaxInput int
}

// newSite renders the page for the host and loads the static files.
func newSite(host sdk.HostInfo) (*site, error) {
	tmpl, err := template.ParseFS(webFiles, "web/index.html")
	if err != nil {
		return nil, fmt.Errorf("websocket: page template: %w", err)
	}
	name := host.ServerName
	if name == "" {
		name = "Portico"
	}
	var page bytes.Buffer
	if err := tmpl.Execute(&page, pageData{Name: name, MaxInput: host.MaxInputLength}); err != nil {
		return nil, fmt.Errorf("websocket: page template: %w", err)
	}
	st := &site{page: page.Bytes(), static: map[string]staticFile{}}
	for _, name := range []string{"webclient.js", "webclient.css"} {
		b, err := webFiles.ReadFile("web/" + name)
		if err != nil {
			return nil, fmt.Errorf("websocket: embedded %s: %w", name, err)
		}
		st.add(name, b)
	}
	st.add("colors.css", paletteCSS())
	return st, nil
}

func (st *site) add(name string, body []byte) {
	sum := sha256.Sum256(body)
	st.static[name] = staticFile{body: body, ctype: mime.TypeByExtension(path.Ext(name)),
		etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// hostPattern is what a Host header must look like to be named in the
// page's Content-Security-Policy.
var hostPattern = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$`)

// servePage serves the webclient page. Its Content-Security-Policy allows
// scripts and styles from this server only and no inline script, so that
// even a mistake in rendering game text to HTML could not run code in a
// player's browser; inline style attributes stay allowed, since truecolor
// text is coloured with them.
func (st *site) servePage(w http.ResponseWriter, r *http.Request) {
	connect := "'self'"
	if hostPattern.MatchString(r.Host) {
		connect += " ws://" + r.Host + " wss://" + r.Host
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data:; connect-src "+connect+"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	setCommonHeaders(h)
	_, _ = w.Write(st.page)
}

// serveStatic serves a file under /static/, revalidated on every load (by
// its ETag) so that a new plugin binary's files are picked up at once.
func (st *site) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := st.static[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	setCommonHeaders(h)
	if r.Header.Get("If-None-Match") == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", f.ctype)
	_, _ = w.Write(f.body)
}

func setCommonHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}
