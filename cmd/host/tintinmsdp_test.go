package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
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
	requireTool(t, ttPath, "tintin++")
	h := startHost(t)
	_, port, err := net.SplitHostPort(h.telnetAddr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "session.log")
	script := filepath.Join(dir, "msdp.tin")
	// TinTin++ answers the server's WILL MSDP with DONT unless a script
	// takes the offer (its documented way: an IAC WILL MSDP event sending
	// IAC DO MSDP). MSDP goes as raw bytes: IAC SB MSDP (69) VAR (1) name
	// VAL (2) value IAC SE, with a trailing backslash so that no line end
	// follows. Every MSDP variable received is shown (and so logged) as
	// MSDP<name>=<value>; TinTin++ shows an array as {1}{a}{2}{b}.
	tin := fmt.Sprintf(`#config {LOG} {PLAIN}
#event {SESSION CONNECTED} {#log overwrite {%s}}
#event {SESSION DISCONNECTED} {#end}
#event {IAC WILL MSDP} {#send {\xFF\xFD\x45\}}
#event {IAC SB MSDP} {#showme {MSDP<%%0>=<%%1>}}
#action {Welcome to TestGame!} {#send {create Mapper mappass12}}
#action {A new account 'Mapper' was created.} {#send {connect Mapper mappass12}}
#action {Players here: Mapper} {#send {\xFF\xFA\x45\x01LIST\x02COMMANDS\xFF\xF0\};#send {\xFF\xFA\x45\x01REPORT\x02LOCATION\xFF\xF0\};#send {say reporting}}
#action {You say, "reporting"} {#send {ooc}}
#action {You go OOC.} {#send {ic};#send {say done}}
#delay 60 {#end}
#session game 127.0.0.1 %s
`, logPath, port)
	if err := os.WriteFile(script, []byte(tin), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ttPath, "-H", "-G", "-r", script)
	cmd.Env = append(os.Environ(), "HOME="+dir, "TERM=xterm-256color")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("tt++ output:\n%s", out.String())
		}
	}()

	text := waitFile(t, logPath, `You say, "done"`, 45*time.Second, exited)
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
