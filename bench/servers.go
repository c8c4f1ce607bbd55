package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portico-mud/portico/core/control"
	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/sdk/cpuprofile"
)

// server is what a scenario runs against: the baseline or Portico.
type server interface {
	name() string
	addr() string
	telnet() bool
	// pids are the processes whose memory counts (host and plugin).
	pids() ([]int, error)
	close()
}

// baseline runs the bare echo server as a child process.
type baseline struct {
	cmd     *exec.Cmd
	address string
}

func startBaseline() (*baseline, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-baseline-server")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("baseline: %w", err)
	}
	return &baseline{cmd: cmd, address: strings.TrimSpace(line)}, nil
}

func (b *baseline) name() string         { return "baseline" }
func (b *baseline) addr() string         { return b.address }
func (b *baseline) telnet() bool         { return false }
func (b *baseline) pids() ([]int, error) { return []int{b.cmd.Process.Pid}, nil }
func (b *baseline) close()               { b.cmd.Process.Kill(); b.cmd.Wait() }

// portico runs the real host and telnet plugin, built from this tree.
type portico struct {
	dir, bin, config string
	cmd              *exec.Cmd
	address          string
	log              *os.File
	// edge, for a remote plugin (startRemotePortico), is the telnet
	// plugin started by hand, dialling the host over TCP with mutual TLS.
	edge    *exec.Cmd
	edgeLog *os.File
}

// Bench account: every session logs in to it (multisession mode 1).
const (
	benchAccount  = "bench"
	benchPassword = "bench-password"
)

// buildPortico builds the host and telnet plugin into dir/bin.
func buildPortico(dir string) (string, error) {
	bin := filepath.Join(dir, "bin")
	for _, b := range [][2]string{
		{"portico", "github.com/portico-mud/portico/cmd/host"},
		{"portico-telnet", "github.com/portico-mud/portico/plugins/telnet"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, b[0]), b[1])
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("build %s: %w", b[1], err)
		}
	}
	return bin, nil
}

// profileDir, when set, makes every Portico process write a CPU profile
// under it (-profile).
var profileDir string

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startPortico(dir, bin string) (*portico, error) { return startPorticoWith(dir, bin, false) }

// startRemotePortico starts the host with its telnet plugin as a remote
// plugin: the host listens on server.portal_listen, and the plugin, started
// by hand with --connect and --identity, dials it over TCP with mutual
// TLS 1.3 (on loopback: the transport's cost, not a network's).
func startRemotePortico(dir, bin string) (*portico, error) { return startPorticoWith(dir, bin, true) }

func startPorticoWith(dir, bin string, remote bool) (*portico, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	server, block := "", ""
	var portal string
	if remote {
		if portal, err = freeAddr(); err != nil {
			return nil, err
		}
		server = fmt.Sprintf("  portal_listen: %q\n", portal)
		block = "    remote: true\n    protocol: telnet\n"
	}
	cfg := fmt.Sprintf(`server:
  name: Bench
  data_dir: data
  multisession_mode: 1
  argon2_memory_kib: 64
  argon2_time: 1
%s# The benchmark opens thousands of connections from one address, as fast
# as it can: the limits that stop that are off.
limits:
  connection_rate: 0
  connections_per_ip: 0
  command_rate: 0
plugins:
  telnet:
    enabled: true
%s    config:
      listen: %q
`, server, block, addr)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &portico{dir: dir, bin: bin, config: filepath.Join(dir, "config.yaml"), address: addr}
	if err := os.WriteFile(p.config, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	create := exec.Command(filepath.Join(bin, "portico"), "account", "create", benchAccount, "--config", p.config)
	create.Stdin = strings.NewReader(benchPassword + "\n")
	if out, err := create.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("create bench account: %v: %s", err, out)
	}
	if p.log, err = os.Create(filepath.Join(dir, "host.log")); err != nil {
		return nil, err
	}
	p.cmd = exec.Command(filepath.Join(bin, "portico"), "start", "--config", p.config)
	if profileDir != "" {
		// The host passes its environment on to the plugins it starts.
		p.cmd.Env = append(os.Environ(), cpuprofile.EnvDir+"="+filepath.Join(profileDir, filepath.Base(dir)))
	}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	if remote {
		if err := p.startEdge(portal); err != nil {
			p.close()
			return nil, err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := p.status()
		if err == nil && len(st.Plugins) > 0 && st.Plugins[0].State == "running" {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.close()
			return nil, fmt.Errorf("portico did not start (see %s): %v", p.log.Name(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startEdge issues the plugin's identity and starts it by hand, as an
// operator does on an edge machine.
func (p *portico) startEdge(portal string) error {
	id := filepath.Join(p.dir, "edge-id")
	issue := exec.Command(filepath.Join(p.bin, "portico"), "portal", "issue", "telnet", "--out", id, "--config", p.config)
	if out, err := issue.CombinedOutput(); err != nil {
		return fmt.Errorf("portal issue: %v: %s", err, out)
	}
	var err error
	if p.edgeLog, err = os.Create(filepath.Join(p.dir, "edge.log")); err != nil {
		return err
	}
	p.edge = exec.Command(filepath.Join(p.bin, "portico-telnet"), "--connect", portal, "--identity", id)
	if profileDir != "" {
		p.edge.Env = append(os.Environ(), cpuprofile.EnvDir+"="+filepath.Join(profileDir, filepath.Base(p.dir)))
	}
	p.edge.Stdout, p.edge.Stderr = p.edgeLog, p.edgeLog
	return p.edge.Start()
}

func (p *portico) name() string { return "portico" }
func (p *portico) addr() string { return p.address }
func (p *portico) telnet() bool { return true }

func (p *portico) socket() string { return filepath.Join(p.dir, "data", "run", "control.sock") }

func (p *portico) call(cmd string, args map[string]string) (control.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := control.Call(ctx, p.socket(), control.Request{Cmd: cmd, Args: args}, false)
	if err != nil {
		return resp, err
	}
	if !resp.OK {
		return resp, fmt.Errorf("%s: %s", cmd, resp.Error)
	}
	return resp, nil
}

func (p *portico) status() (host.Status, error) {
	var st host.Status
	resp, err := p.call("status", nil)
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(resp.Data, &st)
	return st, err
}

func (p *portico) pids() ([]int, error) {
	st, err := p.status()
	if err != nil {
		return nil, err
	}
	out := []int{st.PID}
	for _, pl := range st.Plugins {
		if pl.PID > 0 {
			out = append(out, pl.PID)
		}
	}
	if p.edge != nil {
		out = append(out, p.edge.Process.Pid)
	}
	return out, nil
}

func (p *portico) close() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(os.Interrupt)
		waitOrKill(p.cmd, 20*time.Second)
	}
	if p.log != nil {
		p.log.Close()
	}
	if p.edge != nil && p.edge.Process != nil {
		// The host shut it down when it stopped; one that did not hear
		// of it is ended.
		waitOrKill(p.edge, 10*time.Second)
		p.edge = nil
	}
	if p.edgeLog != nil {
		p.edgeLog.Close()
	}
}

// waitOrKill waits for cmd to exit, and kills it after d.
func waitOrKill(cmd *exec.Cmd, d time.Duration) {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
	}
}

// exited reports whether the child pid has ended: gone from /proc, or a
// zombie not yet waited for.
func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || strings.HasPrefix(s[i+1:], " Z")
}

// rssBytes reads a process's resident memory from /proc.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// cpuTime returns the CPU time (user+system) a process has used so far,
// from /proc/<pid>/stat (clock ticks, 100 per second on Linux).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// contextSwitches returns the voluntary and involuntary context switches
// of every thread of a process so far, from /proc/<pid>/task/*/status (a
// process's own status counts its main thread only). Go's threads live as
// long as the process, so none is lost between two readings.
func contextSwitches(pid int) (int64, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue // the thread ended meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || (k != "voluntary_ctxt_switches" && k != "nonvoluntary_ctxt_switches") {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bad /proc/%d/task/%s/status: %w", pid, t.Name(), err)
			}
			sum += n
		}
	}
	return sum, nil
}

// serverSwitches sums the context switches of s's processes.
func serverSwitches(s server) (int64, error) {
	pids, err := s.pids()
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, pid := range pids {
		n, err := contextSwitches(pid)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// serverCPU sums the CPU time of s's processes.
func serverCPU(s server) (time.Duration, error) {
	pids, err := s.pids()
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, pid := range pids {
		t, err := cpuTime(pid)
		if err != nil {
			return 0, err
		}
		sum += t
	}
	return sum, nil
}
