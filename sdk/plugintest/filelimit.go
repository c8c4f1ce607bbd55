package plugintest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// envFileLimit marks the test binary re-executed as the helper of
// RefusedAtFileLimit.
const envFileLimit = "PLUGINTEST_FILELIMIT_HELPER"

// fileLimitWait bounds each wait of RefusedAtFileLimit: for the helper's
// address, for a client's refusal, for the helper to exit.
const fileLimitWait = 10 * time.Second

// fileLimitClients is how many clients RefusedAtFileLimit dials.
const fileLimitClients = 10

// RefusedAtFileLimit checks what a plugin does at the process's open-file
// limit. It runs the calling test again in a helper process, which calls
// listen (start serving, logging to log; return the address and what stops
// it), uses up its open-file limit, and serves until told to stop. The
// test then dials it ten times, one after another, and checks that each
// client is sent want and closed within seconds, instead of being left
// hanging in the kernel's queue, and that the helper logged the limit
// ("open-file limit") once, not at every accept. Call it first in the
// test; in the helper process it does its part and returns.
//
//	func TestRefusedAtFileLimit(t *testing.T) {
//		plugintest.RefusedAtFileLimit(t, sdk.RefusalLine, func(log *slog.Logger) (string, func()) {
//			p := &Plugin{}
//			info, err := p.Configure(ctx, sdk.Config{Raw: ...}, sdk.NewTestPortal(log))
//			...
//			return info.Listeners[0].Address, func() { _ = p.Shutdown(ctx) }
//		})
//	}
func RefusedAtFileLimit(t *testing.T, want []byte, listen func(log *slog.Logger) (addr string, stop func())) {
	t.Helper()
	if os.Getenv(envFileLimit) == "1" {
		fileLimitHelper(listen)
		return
	}
	log := dialAtFileLimit(t, want)
	if n := strings.Count(log, "open-file limit"); n != 1 {
		t.Fatalf("plugintest: the limit was logged %d times for %d refused clients, want once:\n%s", n, fileLimitClients, log)
	}
}

// fileLimitHelper is the helper process's part: listen, use up the
// open-file limit, print the address, serve until stdin closes.
func fileLimitHelper(listen func(log *slog.Logger) (string, func())) {
	addr, stop := listen(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	defer stop()
	if err := useUpFiles(); err != nil {
		fmt.Println("plugintest: file limit:", err)
		return
	}
	fmt.Println(addr)
	// Reading stdin needs no new descriptor.
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// useUpFiles lowers the open-file limit to 64 (or below, to the hard limit)
// and opens /dev/null until no descriptor is left. The files stay open
// until the process exits.
func useUpFiles() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = min(lim.Max, 64)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	for {
		if _, err := os.Open(os.DevNull); err != nil {
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				return nil
			}
			return err
		}
	}
}

// dialAtFileLimit starts the helper, dials it and checks each client's
// refusal; it returns the helper's log once it has exited.
func dialAtFileLimit(t *testing.T, want []byte) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), envFileLimit+"=1")
	stderr := &LockedBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stdin.Close() // the helper stops when its stdin closes
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(fileLimitWait):
				_ = cmd.Process.Kill()
				<-done
				t.Error("plugintest: the file limit helper did not exit")
			}
		})
	}
	defer stop()
	addrc := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		addrc <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(fileLimitWait):
		t.Fatalf("plugintest: the file limit helper gave no address; its log:\n%s", stderr.String())
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		t.Fatalf("plugintest: the file limit helper said %q; its log:\n%s", addr, stderr.String())
	}
	for i := range fileLimitClients {
		c, err := net.DialTimeout("tcp", addr, fileLimitWait)
		if err != nil {
			t.Fatalf("plugintest: dial %d: %v", i, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(fileLimitWait))
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("plugintest: client %d at the file limit read %q (%v); want %q and the connection closed\nthe helper's log:\n%s",
				i, got, err, want, stderr.String())
		}
	}
	stop()
	return stderr.String()
}
