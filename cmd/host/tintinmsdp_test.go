package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTinTinMSDP: TinTin++ asks, over MSDP, for the list of commands (a
// client's usual first MSDP request) and gets it as an MSDP array; it
// asks for LOCATION to be reported, gets the value at once, and again
// each time it changes (going out of character and back in).
func TestTinTinMSDP(t *testing.T) {
	_, port, dir, logPath := tinTinGame(t)
	script := filepath.Join(dir, "msdp.tin")
	// TinTin++ answers the server's WILL MSDP with DONT unless a script
	// takes the offer (its documented way: an IAC WILL MSDP event sending
	// IAC DO MSDP). MSDP goes as raw bytes: IAC SB MSDP (69) VAR (1) name
	// VAL (2) value IAC SE, with a trailing backslash so that no line end
	// follows. Every MSDP variable received is shown (and so logged) as
	// MSDP<name>=<value>; TinTin++ shows an array as {1}{a}{2}{b}.
	tin := tinTinPrelude(logPath) + fmt.Sprintf(`#event {IAC WILL MSDP} {#send {\xFF\xFD\x45\}}
#event {IAC SB MSDP} {#showme {MSDP<%%0>=<%%1>}}
#action {Welcome to TestGame!} {#send {create Mapper mappass12}}
#action {A new account 'Mapper' was created.} {#send {connect Mapper mappass12}}
#action {Players here: Mapper} {#send {\xFF\xFA\x45\x01LIST\x02COMMANDS\xFF\xF0\};#send {\xFF\xFA\x45\x01REPORT\x02LOCATION\xFF\xF0\};#send {say reporting}}
#action {You say, "reporting"} {#send {ooc}}
#action {You go OOC.} {#send {ic};#send {say done}}
#delay 60 {#end}
#session game 127.0.0.1 %s
`, port)
	tt := startTinTin(t, dir, script, tin)

	text := waitFile(t, logPath, `You say, "done"`, 45*time.Second, tt.exited)
	// LIST COMMANDS: an MSDP array, MSDP's commands first.
	if !strings.Contains(text, "MSDP<COMMANDS>=<{1}{LIST}{2}{REPORT}{3}{RESET}{4}{SEND}{5}{UNREPORT}{6}") {
		t.Errorf("MSDP LIST COMMANDS not answered with an array; TinTin++ log:\n%s", text)
	}
	// REPORT LOCATION: its value at once, then each change, once.
	var reports []string
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "MSDP<LOCATION>="); ok {
			reports = append(reports, v)
		}
	}
	if want := []string{"<Limbo>", "<>", "<Limbo>"}; !slices.Equal(reports, want) {
		t.Errorf("LOCATION reports %q, want %q; TinTin++ log:\n%s", reports, want, text)
	}
}
