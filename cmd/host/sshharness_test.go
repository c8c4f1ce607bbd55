//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/sdk/plugintest"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// What the end-to-end SSH tests share: a host with the SSH plugin, the real
// OpenSSH client and sshpass, and a pseudo-terminal of the test's own for
// `ssh -tt`. The pty code uses Linux ioctls, hence the build tag.

// sshCommandTimeout bounds every ssh, sshpass, ssh-keygen or ssh-keyscan run.
const sshCommandTimeout = 30 * time.Second

// requireTools skips the test when a tool is missing, except under CI
// (CI=true), where .ci/run installs them and their absence is a failure.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed, and CI=true: .ci/run installs openssh-client and sshpass", tool)
			}
			t.Skipf("%s is not installed (apt-get install openssh-client sshpass): skipping the OpenSSH end-to-end test", tool)
		}
	}
}

// sshHost is a test host with the SSH plugin enabled.
type sshHost struct {
	*testHost
	port int
	// clientDir holds the client's files: known_hosts, keys.
	clientDir  string
	knownHosts string
}

// sshBlock is the ssh plugin's config block for a test host.
func sshBlock(port int) string {
	return fmt.Sprintf(`  ssh:
    enabled: true
    path: %s
    trust_key_logins: true
    config:
      listen: "127.0.0.1:%d"
      exec_timeout: 20s
`, filepath.Join(binDir, "portico-ssh"), port)
}

// startSSHHost starts a host with the telnet and SSH plugins and waits
// until the SSH plugin runs.
func startSSHHost(t *testing.T) *sshHost {
	t.Helper()
	return startSSHHostWith(t, hostOptions{})
}

// startSSHHostWith is startSSHHost with o's limits (o.extra is replaced by
// the SSH plugin's block).
func startSSHHostWith(t *testing.T, o hostOptions) *sshHost {
	t.Helper()
	requireTools(t, "ssh", "sshpass", "ssh-keygen", "ssh-keyscan")
	port := conntest.FreePort(t)
	o.extra = sshBlock(port)
	th := startHostWith(t, o)
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(th.dir, "data", "logs", "ssh.log")); err == nil {
				t.Logf("ssh.log:\n%s", b)
			}
		}
	})
	th.waitPlugin("ssh", func(p pluginStatus) bool { return p.State == "running" })
	dir := t.TempDir()
	return &sshHost{testHost: th, port: port, clientDir: dir, knownHosts: filepath.Join(dir, "known_hosts")}
}

// createAccount makes an account with the CLI, the password on stdin.
func (h *sshHost) createAccount(name, password string) {
	h.t.Helper()
	out, err := h.runTool(password+"\n", filepath.Join(binDir, "portico"), "account", "create", name, "--config", h.configPath)
	if err != nil {
		h.t.Fatalf("account create %s: %v\n%s", name, err, out)
	}
}

// newKey makes an ed25519 key pair in the client's dir and returns the
// private key's path (the public one is path + ".pub").
func (h *sshHost) newKey(name string) string {
	h.t.Helper()
	path := filepath.Join(h.clientDir, name)
	if out, err := h.runTool("", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path); err != nil {
		h.t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return path
}

// addKey registers the public key of path to account name with the CLI.
func (h *sshHost) addKey(name, path string) {
	h.t.Helper()
	out, err := h.runTool("", filepath.Join(binDir, "portico"), "account", "add-key", name, path+".pub", "--config", h.configPath)
	if err != nil || !strings.Contains(out, "added key") {
		h.t.Fatalf("account add-key: %v\n%s", err, out)
	}
}

// keyTerminal creates account name with a registered key and logs it in
// over `ssh -tt` with that key on a terminal of the test's own (80x24),
// returning it once the login's look has arrived.
func (h *sshHost) keyTerminal(name, password string) *ptyProcess {
	h.t.Helper()
	h.createAccount(name, password)
	key := h.newKey(strings.ToLower(name) + "_key")
	h.addKey(name, key)
	argv := append(append(h.sshOptions(), keyOptions(key)...), "-tt", name+"@127.0.0.1")
	p := startOnPty(h.t, 24, 80, "ssh", argv...)
	p.expect("You become " + name + ".")
	p.expect("Players here:")
	return p
}

// runTool runs a command with stdin and returns its combined output.
func (h *sshHost) runTool(stdin, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sshCommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// sshOptions are the client options every test uses: no user config, no
// agent, a known_hosts file of the test's own, quiet.
func (h *sshHost) sshOptions() []string {
	return []string{"-F", "/dev/null", "-p", fmt.Sprint(h.port),
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=" + h.knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		"-o", "ConnectTimeout=10", "-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes"}
}

// passwordOptions make ssh log in with a password only.
func passwordOptions() []string {
	return []string{"-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
		"-o", "KbdInteractiveAuthentication=no", "-o", "NumberOfPasswordPrompts=1"}
}

// keyOptions make ssh log in with the key at path only, never prompting.
func keyOptions(path string) []string {
	return []string{"-o", "PreferredAuthentications=publickey", "-o", "BatchMode=yes", "-i", path}
}

// sshResult is one finished ssh run.
type sshResult struct {
	stdout, stderr string
	code           int
}

// runSSH runs `sshpass -p password ssh ...` (or plain ssh when password is
// empty) as user with opts after the common options, then command (none
// when empty), with stdin as given.
func (h *sshHost) runSSH(password, user, stdin string, opts []string, command string) sshResult {
	h.t.Helper()
	return h.runSSHAnswering(password != "", password, user, stdin, opts, command)
}

// runSSHAnswering is runSSH that runs ssh under sshpass when answer is set,
// even with an empty password: sshpass then answers a password prompt with
// a bare Enter.
func (h *sshHost) runSSHAnswering(answer bool, password, user, stdin string, opts []string, command string) sshResult {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sshCommandTimeout)
	defer cancel()
	argv := append(append(h.sshOptions(), opts...), user+"@127.0.0.1")
	if command != "" {
		argv = append(argv, command)
	}
	var cmd *exec.Cmd
	if answer {
		cmd = exec.CommandContext(ctx, "sshpass", append([]string{"-p", password, "ssh"}, argv...)...)
	} else {
		cmd = exec.CommandContext(ctx, "ssh", argv...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := sshResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		h.t.Fatalf("ssh: %v\nstderr: %s", err, res.stderr)
	}
	if ctx.Err() != nil {
		h.t.Fatalf("ssh did not finish within %v\nstdout: %q\nstderr: %s", sshCommandTimeout, res.stdout, res.stderr)
	}
	return res
}

// sshSession returns the host's first SSH session whose flags satisfy ok,
// polling the host's control socket until one does.
func (h *sshHost) sshSession(what string, ok func(host.SessionInfo) bool) host.SessionInfo {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last []host.SessionInfo
	for time.Now().Before(deadline) {
		list, err := h.sessions()
		if err == nil {
			for _, s := range list {
				if s.ProtocolKey == "ssh" && ok(s) {
					return s
				}
			}
			last = list
		}
		time.Sleep(50 * time.Millisecond) // another process's state: polled
	}
	h.t.Fatalf("no ssh session with %s; sessions: %+v", what, last)
	return host.SessionInfo{}
}

// ptyProcess is a program running on a pseudo-terminal the test holds
// the master side of, as a player's terminal emulator would.
type ptyProcess struct {
	t      *testing.T
	master *os.File
	cmd    *exec.Cmd

	*plugintest.Output
	exited chan struct{}
}

func ioctl(fd, req, arg uintptr) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, req, arg); e != 0 {
		return e
	}
	return nil
}

// winsize is struct winsize of <asm-generic/termios.h>.
type winsize struct{ rows, cols, x, y uint16 }

// startOnPty runs name with args on a new pseudo-terminal of rows x cols,
// as its controlling terminal.
func startOnPty(t *testing.T, rows, cols uint16, name string, args ...string) *ptyProcess {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	var unlock int32
	if err := ioctl(master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	var n uint32
	if err := ioctl(master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty slave: %v", err)
	}
	p := &ptyProcess{t: t, master: master, Output: plugintest.NewOutput(), exited: make(chan struct{})}
	p.resize(rows, cols)
	p.cmd = exec.Command(name, args...)
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = slave, slave, slave
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s on a pty: %v", name, err)
	}
	slave.Close() // the child has it; the master sees EIO once it exits
	go p.Collect(p.master)
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		master.Close()
		<-p.Closed()
	})
	return p
}

// resize sets the terminal's size, as a terminal emulator's window resize
// does; the kernel signals SIGWINCH to the terminal's foreground process.
func (p *ptyProcess) resize(rows, cols uint16) {
	p.t.Helper()
	ws := winsize{rows: rows, cols: cols}
	if err := ioctl(p.master.Fd(), syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws))); err != nil {
		p.t.Fatalf("TIOCSWINSZ: %v", err)
	}
}

// signal sends sig to the process.
func (p *ptyProcess) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal: %v", err)
	}
}

// typeKeys writes keystrokes to the terminal.
func (p *ptyProcess) typeKeys(s string) {
	p.t.Helper()
	if _, err := p.master.Write([]byte(s)); err != nil {
		p.t.Fatalf("type %q: %v", s, err)
	}
}

// expect waits until want appears in output not yet consumed.
func (p *ptyProcess) expect(want string) string {
	p.t.Helper()
	got, err := p.Await(want, 20*time.Second)
	if err != nil {
		p.t.Fatal(err)
	}
	return got
}

// waitExit waits for the process to end and returns its exit code.
func (p *ptyProcess) waitExit() int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(20 * time.Second):
		p.t.Fatal("the process on the terminal did not exit")
		return -1
	}
}
