package plugintest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// envFileLimit marks the test binary re-executed as a FileLimitHelper.
const envFileLimit = "PLUGINTEST_FILELIMIT_HELPER"

// fileLimitWait bounds each wait of DialAtFileLimit: for the helper's
// address, for a client's refusal, for the helper to exit.
const fileLimitWait = 10 * time.Second

// FileLimitHelper is the helper process's side of DialAtFileLimit. When
// the test binary runs as that helper, it calls listen (which must start
// serving and return the address it listens on and what stops it), then
// uses up the process's open-file limit, prints the address and serves
// until its stdin closes. It reports whether it ran as the helper, in which
// case the test must return at once:
//
//	func TestRefusedAtFileLimit(t *testing.T) {
//		if plugintest.FileLimitHelper(func() (string, func()) { ... }) {
//			return
//		}
//		log := plugintest.DialAtFileLimit(t, 10, sdk.RefusalLine)
//		...
//	}
func FileLimitHelper(listen func() (addr string, stop func())) bool {
	if os.Getenv(envFileLimit) != "1" {
		return false
	}
	addr, stop := listen()
	defer stop()
	if err := useUpFiles(); err != nil {
		fmt.Println("plugintest: file limit:", err)
		return true
	}
	fmt.Println(addr)
	// Reading stdin needs no new descriptor.
	_, _ = io.Copy(io.Discard, os.Stdin)
	return true
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

// lockedBuf collects a helper's stderr.
type lockedBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// DialAtFileLimit runs the calling test again in a helper process (see
// FileLimitHelper), whose open-file limit is used up while it listens,
// dials it n times one after another and checks that each client is sent
// want and closed within seconds, instead of being left hanging. It
// returns what the helper logged (its stderr) once it has exited, for the
// caller to check that the limit was logged once, not at every accept.
func DialAtFileLimit(t *testing.T, n int, want []byte) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), envFileLimit+"=1")
	var stderr lockedBuf
	cmd.Stderr = &stderr
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
	exited := make(chan struct{})
	stop := func() {
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
		close(exited)
	}
	defer func() {
		select {
		case <-exited:
		default:
			stop()
		}
	}()
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
	for i := range n {
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
