package markup

import (
	"html"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRender checks the package's invariants on arbitrary input: nothing
// panics; Plain output is Strip's; no escape or C1 control character that
// markup did not produce reaches any output; output is valid UTF-8; HTML
// is well formed and shows the same text as Strip; and escaped text
// survives Render and Strip unchanged.
func FuzzRender(f *testing.F) {
	for _, seed := range []string{
		"",
		"plain text",
		"|rred|n |Gdark |[Bbg |!Mkeep |hbright|H |x|X",
		"|500|[050|=a|[=z|#ff8800|[#0f0|#abcd|#12345",
		"|u|U|i|I|s|S|*|^|/|-|_|>||",
		"|q|!r|[q|=A|600|50|#|#ggg|l|",
		"|lclook|ltLook|le |luhttps://x.org/?a=1&b=2|ltsite|le",
		"|lc\"</a><script>|lt<b>|le|lca|ltb|lcc|le|le",
		"a\x1b[31mb\x1b]0;title\x07c\x1b(Bd\x1bce\x1b[",
		"\u009b31m\u009d0;x\u009c\xc2\x1b\x9b\xff",
		"<&>\"'\r\n\r\t\a\b\x7f",
		"|||r|||[w||||",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		strip := Strip(s)
		if plain := Render(s, Plain); plain != strip {
			t.Fatalf("Render(%q, Plain) = %q, Strip = %q", s, plain, strip)
		}
		if got := RenderTrusted(s, Plain); got != strip {
			t.Fatalf("RenderTrusted(%q, Plain) = %q, Strip = %q", s, got, strip)
		}
		checkText(t, "Strip", s, strip)
		for _, mode := range []Mode{ANSI16, Xterm256, TrueColor} {
			out := Render(s, mode)
			checkText(t, "Render("+mode.String()+")", s, stripKnownSGR(out))
			if !utf8.ValidString(out) {
				t.Fatalf("Render(%q, %v) = %q is not valid UTF-8", s, mode, out)
			}
			if !strings.ContainsRune(out, 0x1b) && out != strip {
				// Without escapes in the output the text must be the
				// stripped text.
				t.Fatalf("Render(%q, %v) = %q, Strip = %q", s, mode, out, strip)
			}
		}

		h := HTML(s)
		if err := checkHTML(h); err != "" {
			t.Fatalf("HTML(%q) = %q: %s", s, h, err)
		}
		if !utf8.ValidString(h) {
			t.Fatalf("HTML(%q) = %q is not valid UTF-8", s, h)
		}
		// Links show a different part in HTML, and a CR before a newline
		// merges with it in HTML only; otherwise the visible text agrees.
		if !strings.Contains(s, "|l") && !strings.Contains(s, "\r") {
			if got, want := htmlText(h), htmlVisible(strip); got != want {
				t.Fatalf("HTML(%q) = %q shows %q, Strip shows %q", s, h, got, want)
			}
		}

		e := Escape(s)
		if !utf8.ValidString(e) || strings.ContainsRune(e, 0x1b) || hasC1(e) {
			t.Fatalf("Escape(%q) = %q keeps something unsafe", s, e)
		}
		if utf8.ValidString(s) && !strings.ContainsRune(s, 0x1b) && !hasC1(s) {
			if got := Strip(e); got != s {
				t.Fatalf("Strip(Escape(%q)) = %q", s, got)
			}
			if got := Render(e, TrueColor); got != s {
				t.Fatalf("Render(Escape(%q), TrueColor) = %q", s, got)
			}
		}
	})
}

// checkText fails if out, with markup's own sequences removed, still holds
// an escape or C1 control character, or is not valid UTF-8.
func checkText(t *testing.T, what, in, out string) {
	t.Helper()
	if strings.ContainsRune(out, 0x1b) || hasC1(out) {
		t.Fatalf("%s(%q) lets an escape through: %q", what, in, out)
	}
	if !utf8.ValidString(out) {
		t.Fatalf("%s(%q) = %q is not valid UTF-8", what, in, out)
	}
}

// htmlText is the text a browser shows for HTML's output.
func htmlText(h string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(h, '<')
		if i < 0 {
			b.WriteString(h)
			break
		}
		b.WriteString(h[:i])
		end := strings.IndexByte(h[i:], '>')
		if h[i:i+end+1] == "<br>" {
			b.WriteByte('\n')
		}
		h = h[i+end+1:]
	}
	return html.UnescapeString(b.String())
}

// htmlVisible is what HTML shows for stripped text: tabs as four spaces
// and no control characters but newlines.
func htmlVisible(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r == '\n':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
