package markup

import (
	"strings"
	"testing"
)

// TestHTML checks HTML output byte for byte. The styled text of each case
// was compared with Evennia 6.1's text2html, which differs only in form: it
// writes class="" on spans that need no class, opens a new span after every
// style code even when nothing changed, and leaks raw escapes for |i, |s and
// |U, which it does not know.
func TestHTML(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{`a < b & c > "d" 'e'`, "a &lt; b &amp; c &gt; &quot;d&quot; &#39;e&#39;"},
		{"|rred|n plain", `<span class="color-009">red</span> plain`},
		{"|Rdark", `<span class="color-001">dark</span>`},
		{"|[Bon blue", `<span class="bgcolor-004">on blue</span>`},
		{"|[b|Wx", `<span class="bgcolor-021">x</span>`},
		{"|uunder|n", `<span class="underline">under</span>`},
		{"|^blink", `<span class="blink">blink</span>`},
		{"|*inv", `<span class="bgcolor-007 color-000">inv</span>`},
		{"|r|*inv", `<span class="bgcolor-009 color-000">inv</span>`},
		{"|500cube|[=jgrey", `<span class="color-196">cube</span><span class="bgcolor-240 color-196">grey</span>`},
		{"|hbold|Hnot", `<span class="color-015">bold</span>not`},
		{"|r|uboth|U|n", `<span class="underline color-009">both</span>`},
		{"|rred|ggreen", `<span class="color-009">red</span><span class="color-010">green</span>`},
		{"|r|r|rx", `<span class="color-009">x</span>`},
		{"line1|/line2\nline3\r\nline4\rline5", "line1<br>line2<br>line3<br>line4<br>line5"},
		{"tab|-x\ty", "tab    x    y"},
		{"|#ff8800true|[#0000ffbg", `<span style="color: #ff8800;">true</span><span style="color: #ff8800;background-color: #0000ff;">bg</span>`},
		{"|#ff0000|*inv", `<span class="color-000" style="background-color: #ff0000;">inv</span>`},
		{"|iitalic|I |sstrike|S |u|sboth", `<span style="font-style: italic;">italic</span> <span style="text-decoration: line-through;">strike</span> <span class="underline" style="text-decoration: underline line-through;">both</span>`},
		{"|rred|n", `<span class="color-009">red</span>`},
		{"|r|n", ""},
		{"|r", ""},
		{"|W|[Xdefault", "default"},
		{"|lclook|ltLook|le", `<a id="mxplink" href="#" onclick="Evennia.msg(&quot;text&quot;,[&quot;look&quot;],{});return false;">Look</a>`},
		{`|lc"</a><script>|lt<b>|le`, `<a id="mxplink" href="#" onclick="Evennia.msg(&quot;text&quot;,[&quot;\&quot;\u003c/a\u003e\u003cscript\u003e&quot;],{});return false;">&lt;b&gt;</a>`},
		{"|r|lcget|lt|uget|le|n", `<a id="mxplink" href="#" onclick="Evennia.msg(&quot;text&quot;,[&quot;get&quot;],{});return false;"><span class="underline color-009">get</span></a>`},
		{`|luhttps://evennia.com/?a=1&b="2"|ltsite|le`, `<a id="mxplink" href="https://evennia.com/?a=1&amp;b=&quot;2&quot;" target="_blank" rel="noopener noreferrer">site</a>`},
		{"|lujavascript:alert(1)|lttext|le", "text"},
		{"|luwww.x.org|ltx|le", `<a id="mxplink" href="http://www.x.org" target="_blank" rel="noopener noreferrer">x</a>`},
		{"\x1b[31mno\x1b]0;t\a", "no"},
		{"bell\abs\bend", "bellbsend"},
		{"|||r", "|"},
	}
	for _, c := range cases {
		got := HTML(c.in)
		if got != c.want {
			t.Errorf("HTML(%q) =\n  %q\nwant\n  %q", c.in, got, c.want)
		}
		if err := checkHTML(got); err != "" {
			t.Errorf("HTML(%q) = %q: %s", c.in, got, err)
		}
	}
}

// checkHTML reports what is wrong with HTML's output, or "": every '<'
// must start one of the tags HTML writes, spans and anchors must be closed
// in order, and no escape or control character other than newline may
// remain.
func checkHTML(h string) string {
	var stack []string
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c == 0x1b || (c < 0x20 && c != '\n') || c == 0x7f {
			return "control character in output"
		}
		if c == '>' {
			return "raw > in text"
		}
		if c != '<' {
			continue
		}
		rest := h[i:]
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return "unterminated tag"
		}
		tag := rest[:end+1]
		if strings.ContainsAny(tag[1:end], "<") {
			return "< inside a tag"
		}
		switch {
		case tag == "<br>":
		case strings.HasPrefix(tag, "<span "):
			stack = append(stack, "span")
		case strings.HasPrefix(tag, "<a "):
			stack = append(stack, "a")
		case tag == "</span>", tag == "</a>":
			name := tag[2 : len(tag)-1]
			if len(stack) == 0 || stack[len(stack)-1] != name {
				return "unbalanced " + tag
			}
			stack = stack[:len(stack)-1]
		default:
			return "unexpected tag " + tag
		}
		i += end
	}
	if len(stack) > 0 {
		return "unclosed " + stack[len(stack)-1]
	}
	return ""
}

// TestHTMLSpanPerStyle checks that spans are flat: a change of style closes
// the open span before the next one opens.
func TestHTMLSpanPerStyle(t *testing.T) {
	got := HTML("|rA|[BB|uC|nD")
	want := `<span class="color-009">A</span><span class="bgcolor-004 color-009">B</span>` +
		`<span class="underline bgcolor-004 color-009">C</span>D`
	if got != want {
		t.Errorf("HTML = %q, want %q", got, want)
	}
}
