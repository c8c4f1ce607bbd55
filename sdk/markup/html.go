package markup

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// HTML renders markup to HTML for Evennia's webclient, following what
// Evennia's text2html produces so that the webclient's CSS styles it:
//
//   - text is HTML-escaped (& < > " '), newlines (|/, \n, \r\n, \r) become
//     <br>, and tabs four spaces (the webclient keeps spaces with
//     white-space: pre-wrap);
//   - colours become <span class="color-NNN"> and <span class="bgcolor-NNN">,
//     NNN being the xterm256 index (0-7 normal ANSI colours, 8-15 their
//     bright variants, 16-255 the cube and grey ramp); the default light
//     grey on black gets no class;
//   - truecolor becomes an inline style="color: #rrggbb;" (or
//     background-color), since no class can name it;
//   - underline and blink become the classes "underline" and "blink";
//     inverse swaps the foreground and background colours, as Evennia does;
//     italic and strikethrough, which Evennia's CSS lacks, become inline
//     styles;
//   - |lc links become Evennia's clickable-command anchors and |lu links
//     anchors to http, https or ftp addresses (other addresses are shown as
//     plain text, so markup cannot make a javascript: link).
//
// Spans are never nested: a style change closes the open span and opens a
// new one, and every span is closed, also around links. Raw escape
// sequences and control characters other than newline, carriage return and
// tab are removed.
func HTML(s string) string {
	if !htmlNeedsWork(s) {
		return s
	}
	h := htmlWriter{}
	h.b.Grow(len(s) + len(s)/2 + 32)
	h.st = defaultStyle
	lx := newLexer(s)
	skipAt, skipTo := -1, -1
	inLink, anchorOpen := false, false
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, w := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && w == 1:
				h.text(s[start:i])
				h.text(replacementChar)
			case isC1(r):
				h.text(s[start:i])
			default:
				i += w
				continue
			}
			i += w
			start = i
			continue
		}
		if !htmlSpecial[c] {
			i++
			continue
		}
		h.text(s[start:i])
		switch c {
		case '|':
			if i == skipAt {
				if anchorOpen {
					h.closeSpan()
					h.b.WriteString("</a>")
				}
				i, skipAt, inLink, anchorOpen = skipTo, -1, false, false
				start = i
				continue
			}
			t := lx.lex(i, inLink)
			switch t.kind {
			case tLit:
				h.escaped(t.lit)
			case tLinkCmd, tLinkURL:
				// Either way the first part names the target and the
				// part after |lt is shown.
				target := Strip(s[i+3 : t.mid])
				anchorOpen = h.openAnchor(t.kind, target)
				i, skipAt, skipTo, inLink = t.mid+3, t.end, t.end+3, true
				start = i
				continue
			default:
				h.apply(t)
			}
			i += t.n
		case esc:
			i += escLen(s, i)
		case '\r':
			h.escaped("\n")
			i++
			if i < len(s) && s[i] == '\n' {
				i++
			}
		default:
			h.escaped(s[i : i+1])
			i++
		}
		start = i
	}
	h.text(s[start:])
	h.closeSpan()
	return h.b.String()
}

// htmlSpecial marks the ASCII bytes HTML cannot copy as they are.
var htmlSpecial = func() (t [utf8.RuneSelf]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for _, c := range "|<>&\"'\x7f" {
		t[c] = true
	}
	return t
}()

// htmlNeedsWork reports whether HTML must change s at all.
func htmlNeedsWork(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if htmlSpecial[c] {
				return true
			}
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && w == 1) || isC1(r) {
			return true
		}
		i += w
	}
	return false
}

// colourKind says how a colour is given.
type colourKind uint8

const (
	colANSI  colourKind = iota // v is 0-7; a foreground adds 8 when hilite
	colXterm                   // v is the xterm256 index
	colRGB                     // rgb is the colour
)

type colourSpec struct {
	kind colourKind
	v    uint8
	rgb  [3]uint8
}

// style is the current text style, as text2html tracks it.
type style struct {
	fg, bg                                            colourSpec
	hilite, underline, blink, inverse, italic, strike bool
}

// defaultStyle is light grey (unhilited white) on black, the webclient's
// own colours.
var defaultStyle = style{fg: colourSpec{kind: colANSI, v: 7}}

// htmlWriter builds HTML output and keeps track of the open span.
type htmlWriter struct {
	b  strings.Builder
	st style
	// open is the open span's tag, "" when none; want is the tag the
	// current style needs, valid unless stale.
	open, want string
	stale      bool
}

// apply changes the style for a colour or attribute token.
func (h *htmlWriter) apply(t token) {
	st := &h.st
	switch t.kind {
	case tReset:
		*st = defaultStyle
	case tAttr:
		switch t.v {
		case attrHilite:
			st.hilite = true
		case attrUnhilite:
			st.hilite = false
		case attrUnderline:
			st.underline = true
		case attrUnderlineOff:
			st.underline = false
		case attrItalic:
			st.italic = true
		case attrItalicOff:
			st.italic = false
		case attrStrike:
			st.strike = true
		case attrStrikeOff:
			st.strike = false
		case attrBlink:
			st.blink = true
		case attrInverse:
			st.inverse = true
		}
	case tFG16:
		switch t.hi {
		case hiOn:
			st.hilite = true
		case hiOff:
			st.hilite = false
		}
		st.fg = colourSpec{kind: colANSI, v: t.v}
	case tBG16:
		st.bg = colourSpec{kind: colANSI, v: t.v}
	case tFG256:
		st.fg = colourSpec{kind: colXterm, v: t.v}
	case tBG256:
		st.bg = colourSpec{kind: colXterm, v: t.v}
	case tFGRGB:
		st.fg = colourSpec{kind: colRGB, rgb: t.rgb}
	case tBGRGB:
		st.bg = colourSpec{kind: colRGB, rgb: t.rgb}
	}
	h.stale = true
}

// text writes ordinary text that needs no escaping, in the right span.
func (h *htmlWriter) text(s string) {
	if s == "" {
		return
	}
	h.sync()
	h.b.WriteString(s)
}

// escaped writes text that may need escaping, in the right span.
func (h *htmlWriter) escaped(s string) {
	if s == "" {
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		var rep string
		switch c {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '"':
			rep = "&quot;"
		case '\'':
			rep = "&#39;"
		case '\n':
			rep = "<br>"
		case '\t':
			rep = "    "
		default:
			if c < 0x20 || c == 0x7f {
				// Other control characters (BEL, backspace, ...) mean
				// nothing in a browser; drop them, as text2html drops
				// bells.
				continue
			}
			h.sync()
			h.b.WriteByte(c)
			continue
		}
		h.sync()
		h.b.WriteString(rep)
	}
}

// sync makes the open span match the current style before text is written.
// Text2html opens a span after every style code; comparing tags instead
// leaves out spans that would change nothing.
func (h *htmlWriter) sync() {
	if h.stale {
		h.want = h.st.tag()
		h.stale = false
	}
	if h.want == h.open {
		return
	}
	h.closeSpan()
	if h.want != "" {
		h.b.WriteString(h.want)
		h.open = h.want
	}
}

// closeSpan closes the open span, if any.
func (h *htmlWriter) closeSpan() {
	if h.open != "" {
		h.b.WriteString("</span>")
		h.open = ""
	}
}

// openAnchor writes the opening tag of a link and reports whether it did.
// The span is closed first so that spans and anchors nest properly.
func (h *htmlWriter) openAnchor(kind tokKind, target string) bool {
	if kind == tLinkCmd {
		// Evennia's markup, with the command as a JSON string literal so
		// that quotes or backslashes in it cannot break out of the
		// JavaScript. json.Marshal also escapes < > & and U+2028/9.
		cmd, _ := json.Marshal(target)
		h.closeSpan()
		h.b.WriteString(`<a id="mxplink" href="#" onclick="Evennia.msg(&quot;text&quot;,[`)
		h.b.WriteString(attrEscape(string(cmd)))
		h.b.WriteString(`],{});return false;">`)
		return true
	}
	url := strings.TrimSpace(target)
	lower := strings.ToLower(url)
	switch {
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"),
		strings.HasPrefix(lower, "ftp://"):
	case strings.HasPrefix(lower, "www."):
		// As text2html does for bare www addresses, so the link is not
		// taken as relative to the webclient's page.
		url = "http://" + url
	default:
		return false
	}
	h.closeSpan()
	h.b.WriteString(`<a id="mxplink" href="`)
	h.b.WriteString(attrEscape(url))
	h.b.WriteString(`" target="_blank" rel="noopener noreferrer">`)
	return true
}

// attrEscape escapes s for a double-quoted HTML attribute.
func attrEscape(s string) string {
	return attrReplacer.Replace(s)
}

var attrReplacer = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;",
)

// tag returns the <span> opening tag for st, or "" when st is the
// default look and needs no span. The class order follows text2html:
// attributes, then background, then foreground.
func (st style) tag() string {
	fg, bg := st.fg, st.bg
	if fg.kind == colANSI && st.hilite {
		fg.v += 8
	}
	if st.inverse {
		fg, bg = bg, fg
	}
	var classes, css []string
	if st.underline {
		classes = append(classes, "underline")
	}
	if st.blink {
		classes = append(classes, "blink")
	}
	if bg.kind == colRGB {
		css = append(css, "background-color: "+hexRGB(bg.rgb)+";")
	} else if bg.v != 0 {
		classes = append(classes, "bgcolor-"+pad3(bg.v))
	}
	if fg.kind == colRGB {
		css = append([]string{"color: " + hexRGB(fg.rgb) + ";"}, css...)
	} else if fg.v != 7 {
		classes = append(classes, "color-"+pad3(fg.v))
	}
	if st.italic {
		css = append(css, "font-style: italic;")
	}
	if st.strike {
		if st.underline {
			// An inline text-decoration replaces the class's, so it
			// must name both.
			css = append(css, "text-decoration: underline line-through;")
		} else {
			css = append(css, "text-decoration: line-through;")
		}
	}
	if len(classes) == 0 && len(css) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("<span")
	if len(classes) > 0 {
		b.WriteString(` class="`)
		b.WriteString(strings.Join(classes, " "))
		b.WriteByte('"')
	}
	if len(css) > 0 {
		b.WriteString(` style="`)
		b.WriteString(strings.Join(css, ""))
		b.WriteByte('"')
	}
	b.WriteByte('>')
	return b.String()
}

// pad3 formats an xterm index with three digits, as the CSS class names
// have them.
func pad3(v uint8) string {
	s := strconv.Itoa(int(v))
	return strings.Repeat("0", 3-len(s)) + s
}

// hexRGB formats a colour as #rrggbb.
func hexRGB(rgb [3]uint8) string {
	const digits = "0123456789abcdef"
	b := []byte{'#', 0, 0, 0, 0, 0, 0}
	for k, v := range rgb {
		b[1+2*k] = digits[v>>4]
		b[2+2*k] = digits[v&15]
	}
	return string(b)
}
