package markup_test

import (
	"fmt"

	"github.com/portico-mud/portico/sdk/markup"
)

// Render turns Evennia markup into what a client of each kind can show.
func ExampleRender() {
	s := "|rDanger|n ahead, |555bright|n and |#ff8800orange|n."
	for _, mode := range []markup.Mode{markup.Plain, markup.ANSI16, markup.Xterm256, markup.TrueColor} {
		fmt.Printf("%-9s %q\n", mode, markup.Render(s, mode))
	}
	// Output:
	// Plain     "Danger ahead, bright and orange."
	// ANSI16    "\x1b[1m\x1b[31mDanger\x1b[0m ahead, \x1b[1m\x1b[37mbright\x1b[0m and \x1b[1m\x1b[31morange\x1b[0m."
	// Xterm256  "\x1b[1m\x1b[31mDanger\x1b[0m ahead, \x1b[38;5;231mbright\x1b[0m and \x1b[38;5;208morange\x1b[0m."
	// TrueColor "\x1b[1m\x1b[31mDanger\x1b[0m ahead, \x1b[38;5;231mbright\x1b[0m and \x1b[38;2;255;136;0morange\x1b[0m."
}

// ModeFor picks the mode from a session's protocol flags.
func ExampleModeFor() {
	fmt.Println(markup.ModeFor(map[string]any{"ANSI": true, "XTERM256": true}))
	fmt.Println(markup.ModeFor(map[string]any{"XTERM256": true, "SCREENREADER": true}))
	fmt.Println(markup.ModeFor(nil))
	// Output:
	// Xterm256
	// Plain
	// ANSI16
}

// Player text is escaped before it goes into markup, so that it shows as
// typed and cannot change colours.
func ExampleEscape() {
	said := "I love |rred|n"
	line := "|gAlice says:|n " + markup.Escape(said)
	fmt.Println(markup.Strip(line))
	// Output:
	// Alice says: I love |rred|n
}

// HTML renders markup for the webclient.
func ExampleHTML() {
	fmt.Println(markup.HTML("|rred|n <b> & |lclook|ltLook around|le"))
	// Output:
	// <span class="color-009">red</span> &lt;b&gt; &amp; <a id="mxplink" href="#" onclick="Evennia.msg(&quot;text&quot;,[&quot;look&quot;],{});return false;">Look around</a>
}
