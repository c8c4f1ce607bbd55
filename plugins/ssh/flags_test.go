package main

import (
	"reflect"
	"testing"

	gliderssh "github.com/gliderlabs/ssh"
	"github.com/portico-mud/portico/sdk/contract"
)

func TestPtyFlags(t *testing.T) {
	win := gliderssh.Window{Width: 132, Height: 43}
	for _, tc := range []struct {
		term string
		env  []string
		// ANSI, XTERM256, TRUECOLOR
		want [3]bool
	}{
		{"xterm-256color", nil, [3]bool{true, true, false}},
		{"XTERM", nil, [3]bool{true, true, false}},
		{"screen-256color", nil, [3]bool{true, true, false}},
		{"tmux-256color", []string{"COLORTERM=truecolor"}, [3]bool{true, true, true}},
		{"xterm-direct", nil, [3]bool{true, true, true}},
		{"vt100", nil, [3]bool{true, false, false}},
		{"linux", []string{"COLORTERM=24bit"}, [3]bool{true, true, true}},
		{"linux", nil, [3]bool{true, false, false}},
		{"dumb", []string{"COLORTERM=truecolor"}, [3]bool{false, false, false}},
	} {
		f := ptyFlags(gliderssh.Pty{Term: tc.term, Window: win}, tc.env, "SSH-2.0-OpenSSH_9.2p1 Debian-2")
		got := [3]bool{f[contract.FlagANSI].(bool), f[contract.FlagXterm256].(bool), f[contract.FlagTrueColor].(bool)}
		if got != tc.want {
			t.Errorf("TERM=%s env %v: ANSI/XTERM256/TRUECOLOR = %v, want %v", tc.term, tc.env, got, tc.want)
		}
	}
	f := ptyFlags(gliderssh.Pty{Term: "xterm-256color", Window: win}, []string{"LANG=C.UTF-8"}, "SSH-2.0-OpenSSH_9.2p1 Debian-2")
	want := map[string]any{
		flagTerm:                  "xterm-256color",
		contract.FlagScreenWidth:  132,
		contract.FlagScreenHeight: 43,
		contract.FlagANSI:         true,
		contract.FlagXterm256:     true,
		contract.FlagTrueColor:    false,
		contract.FlagUTF8:         true,
		contract.FlagClientName:   "OpenSSH_9.2p1 Debian-2",
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("flags %v, want %v", f, want)
	}
}

func TestPtyFlagsNoColorAndOddSizes(t *testing.T) {
	f := ptyFlags(gliderssh.Pty{Term: "xterm", Window: gliderssh.Window{Width: 1 << 30, Height: 0}},
		[]string{"NO_COLOR=1"}, "")
	if f[contract.FlagNoColor] != true {
		t.Fatalf("NO_COLOR did not set NOCOLOR: %v", f)
	}
	if _, ok := f[contract.FlagScreenWidth]; ok {
		t.Fatalf("a window with no height gave a size: %v", f)
	}
	if _, ok := f[contract.FlagClientName]; ok {
		t.Fatalf("an empty client version gave a name: %v", f)
	}
	if w, h := screenSize(gliderssh.Window{Width: 1 << 30, Height: 5000}); w != maxScreen || h != maxScreen {
		t.Fatalf("huge window clamped to %dx%d", w, h)
	}
	long := ptyFlags(gliderssh.Pty{Term: string(make([]byte, 500)) + "\xff"}, nil, "SSH-2.0-\x1b[31mevil\xff")
	if term := long[flagTerm].(string); len(term) > maxTermLen {
		t.Fatalf("TERM kept %d bytes", len(term))
	}
	if name := long[contract.FlagClientName].(string); name != "[31mevil" {
		t.Fatalf("client name %q", name)
	}
}

func TestPlainFlags(t *testing.T) {
	f := plainFlags("SSH-2.0-Go")
	if f[contract.FlagANSI] != false || f[contract.FlagXterm256] != false || f[contract.FlagClientName] != "Go" {
		t.Fatalf("flags %v", f)
	}
	if sizeFlags(gliderssh.Window{Width: 0, Height: 10}) != nil {
		t.Fatal("a zero width gave size flags")
	}
	if got := sizeFlags(gliderssh.Window{Width: 100, Height: 30}); !reflect.DeepEqual(got,
		map[string]any{contract.FlagScreenWidth: 100, contract.FlagScreenHeight: 30}) {
		t.Fatalf("size flags %v", got)
	}
}
