package markup

import "strconv"

// Escape sequences, all built once so that rendering only copies strings.
var (
	// attrSeq is indexed by the attr* constants.
	attrSeq = [...]string{
		attrHilite:       "\x1b[1m",
		attrUnhilite:     "\x1b[22m",
		attrUnderline:    "\x1b[4m",
		attrUnderlineOff: "\x1b[24m",
		attrItalic:       "\x1b[3m",
		attrItalicOff:    "\x1b[23m",
		attrStrike:       "\x1b[9m",
		attrStrikeOff:    "\x1b[29m",
		attrBlink:        "\x1b[5m",
		attrInverse:      "\x1b[7m",
	}
	// fg16Seq[hi][colour]: Evennia sends |r as ESC[1m ESC[31m and |R as
	// ESC[22m ESC[31m, two sequences rather than one combined, and so do we.
	fg16Seq [3][8]string
	bg16Seq [8]string
	// fg256Seq and bg256Seq are ESC[38;5;Nm and ESC[48;5;Nm. Evennia
	// writes N without leading zeros because some clients reject them.
	fg256Seq, bg256Seq [256]string
	// fgDownSeq and bgDownSeq are what xterm256 colours 16-255 become in
	// ANSI16 mode.
	fgDownSeq, bgDownSeq [256]string
)

func init() {
	for c := range 8 {
		n := strconv.Itoa(c)
		fg16Seq[hiOn][c] = attrSeq[attrHilite] + "\x1b[3" + n + "m"
		fg16Seq[hiOff][c] = attrSeq[attrUnhilite] + "\x1b[3" + n + "m"
		fg16Seq[hiKeep][c] = "\x1b[3" + n + "m"
		bg16Seq[c] = "\x1b[4" + n + "m"
	}
	for i := range 256 {
		n := strconv.Itoa(i)
		fg256Seq[i] = "\x1b[38;5;" + n + "m"
		bg256Seq[i] = "\x1b[48;5;" + n + "m"
		if i < 16 {
			// Markup never produces the system colours 0-15.
			continue
		}
		r, g, b := xtermRGB5(uint8(i))
		col, bright := downgrade(r, g, b)
		// Evennia starts a normal colour with a full reset (ESC[0m);
		// unhilite does what is meant without dropping the background.
		if bright {
			fgDownSeq[i] = fg16Seq[hiOn][col]
		} else {
			fgDownSeq[i] = fg16Seq[hiOff][col]
		}
		bgDownSeq[i] = bg16Seq[col]
	}
}

// xtermRGB5 gives the 0-5 red, green and blue levels Evennia's downgrade
// table works on for an xterm256 colour 16-255. The grey ramp 232-255
// (|=b ... |=y) maps to an equal grey level round(letter/5), as Evennia
// computes for its greyscale markup.
func xtermRGB5(i uint8) (r, g, b int) {
	if i >= 232 {
		// Letter offset 1-24 over 5, rounded; never exactly .5.
		grey := (int(i-231)*2 + 5) / 10
		return grey, grey, grey
	}
	c := int(i) - 16
	return c / 36, c / 6 % 6, c % 6
}

// downgrade maps an xterm256 colour (levels 0-5) to one of the 8 ANSI
// colours and whether it is the bright (hilite) variant. It follows
// Evennia's table rather than a distance measure, so that a game looks the
// same on 16-colour clients as under Evennia; the table covers every input,
// and the nearest-colour fallback only guards against a future edit.
func downgrade(r, g, b int) (colour uint8, bright bool) {
	if c, br, ok := evenniaTable(r, g, b); ok {
		return c, br
	}
	c := nearest16(cubeLevel[r], cubeLevel[g], cubeLevel[b])
	return c % 8, c >= 8
}

// evenniaTable is Evennia's downgrade table (sub_xterm256 in ansi.py):
// near-greys by level, then hues on levels halved to 0-3, with guards on
// the original levels. ok is false where no case matches.
func evenniaTable(r, g, b int) (colour uint8, bright, ok bool) {
	const (
		black, red, green, yellow, blue, magenta, cyan, white = 0, 1, 2, 3, 4, 5, 6, 7
	)
	lo, hi := min(r, g, b), max(r, g, b)
	in := func(v int, set ...int) bool {
		for _, x := range set {
			if v == x {
				return true
			}
		}
		return false
	}
	all := func(set ...int) bool { return in(r, set...) && in(g, set...) && in(b, set...) }
	// Greys first: channels within one step of each other.
	if hi-lo <= 1 {
		switch {
		case r == 0 && g == 0 && b == 0:
			return black, false, true
		case all(1, 2):
			return black, true, true
		case all(2, 3), all(3, 4):
			return white, false, true
		case all(4, 5):
			return white, true, true
		}
	}
	// Then hues, on levels halved to 0-3.
	cr, cg, cb := (r+1)/2, (g+1)/2, (b+1)/2
	switch {
	case in(cr, 2, 3) && in(cg, 0, 1) && in(cb, 0, 1):
		return red, true, true
	case in(cr, 1, 2) && cg == 0 && cb == 0:
		return red, false, true
	case in(cr, 0, 1) && in(cg, 2, 3) && in(cb, 0, 1):
		return green, true, true
	case in(cr, 0, 1) && cg == 1 && cb == 0 && g > r:
		return green, false, true
	case in(cr, 0, 1) && in(cg, 0, 1) && in(cb, 2, 3):
		return blue, true, true
	case cr == 0 && cg == 0 && cb == 1:
		return blue, false, true
	case in(cr, 0, 1, 2) && in(cg, 2, 3) && in(cb, 2, 3) && r == lo:
		return cyan, true, true
	case cr == 0 && in(cg, 1, 2) && in(cb, 1, 2):
		return cyan, false, true
	case in(cr, 2, 3) && in(cg, 2, 3) && in(cb, 0, 1, 2) && b == lo:
		return yellow, true, true
	case in(cr, 1, 2) && in(cg, 1, 2) && in(cb, 0, 1):
		return yellow, false, true
	case in(cr, 2, 3) && in(cg, 0, 1, 2) && in(cb, 2, 3) && g == lo:
		return magenta, true, true
	case in(cr, 1, 2) && cg == 0 && in(cb, 1, 2):
		return magenta, false, true
	}
	return 0, false, false
}

// cubeLevel is the RGB intensity of each xterm256 cube step.
var cubeLevel = [6]int{0, 95, 135, 175, 215, 255}

// palette16 is the usual RGB of the 16 ANSI colours, the same values as
// Evennia's webclient CSS for color-000 ... color-015.
var palette16 = [16][3]int{
	{0, 0, 0}, {128, 0, 0}, {0, 128, 0}, {128, 128, 0},
	{0, 0, 128}, {128, 0, 128}, {0, 128, 128}, {192, 192, 192},
	{128, 128, 128}, {255, 0, 0}, {0, 255, 0}, {255, 255, 0},
	{0, 0, 255}, {255, 0, 255}, {0, 255, 255}, {255, 255, 255},
}

func nearest16(r, g, b int) uint8 {
	best, bestD := 0, -1
	for i, p := range palette16 {
		if d := dist2(r, g, b, p[0], p[1], p[2]); bestD < 0 || d < bestD {
			best, bestD = i, d
		}
	}
	return uint8(best)
}

func dist2(r1, g1, b1, r2, g2, b2 int) int {
	dr, dg, db := r1-r2, g1-g2, b1-b2
	return dr*dr + dg*dg + db*db
}

// nearestXterm picks the xterm256 colour (cube 16-231 or grey ramp 232-255)
// closest to rgb. Evennia instead rounds each channel with a biased
// formula and never uses the grey ramp, which turns #3c3c3c black and loses
// most greys; a game that chose an exact colour should get the closest one.
func nearestXterm(rgb [3]uint8) uint8 {
	r, g, b := int(rgb[0]), int(rgb[1]), int(rgb[2])
	cr, cg, cb := nearestCube(r), nearestCube(g), nearestCube(b)
	cubeD := dist2(r, g, b, cubeLevel[cr], cubeLevel[cg], cubeLevel[cb])
	// The ramp runs 8, 18, ... 238 in steps of 10.
	k := ((r+g+b)/3 - 8 + 5) / 10
	k = max(0, min(23, k))
	lv := 8 + 10*k
	if greyD := dist2(r, g, b, lv, lv, lv); greyD < cubeD {
		return uint8(232 + k)
	}
	return uint8(16 + 36*cr + 6*cg + cb)
}

// nearestCube returns the cube step (0-5) whose level is closest to v.
func nearestCube(v int) int {
	best := 0
	for i, lv := range cubeLevel {
		if abs(v-lv) < abs(v-cubeLevel[best]) {
			best = i
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
