package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// TestSocketsUnderUmask000 runs the host, with its telnet, SSH and
// websocket plugins, under umask 000 (an operator's careless shell or
// unit file): every unix socket it or its plugins listen on is in
// <data_dir>/run (the plugins' in run/plugins, 0700), usable by its owner
// only, and nothing is made in the temp directory. Nothing under the data
// directory is open to group or others (but the SSH host's public key).
// Stale sockets found in run/plugins at start are removed, the sockets of
// plugins reattached after a reload or a host crash are kept, a plugin
// that dies has its socket removed, and after `portico stop` no socket is
// left.
func TestSocketsUnderUmask000(t *testing.T) {
	// The host's and the plugins' temp directory: a plugin that put its
	// socket in os.TempDir (go-plugin's default) would put it here.
	tmp := t.TempDir()
	wsPort, sshPort := conntest.FreePort(t), conntest.FreePort(t)
	extra := sshBlock(sshPort) + fmt.Sprintf(`  websocket:
    enabled: true
    path: %s
    config:
      listen: "127.0.0.1:%d"
`, filepath.Join(binDir, "portico-websocket"), wsPort)
	var stale []string
	h := startHostWith(t, hostOptions{extra: extra, umask: "000", env: []string{"TMPDIR=" + tmp},
		setup: func(dir string) {
			// What a host killed under a looser regime leaves: run/ and
			// run/plugins open to all, a dead plugin's socket and a
			// socket-name placeholder, a record's temp file and a pid
			// file anyone may write.
			data := filepath.Join(dir, "data")
			plugins := filepath.Join(data, "run", "plugins")
			mkdirMode(t, data, 0o700)
			mkdirMode(t, filepath.Join(data, "run"), 0o777)
			mkdirMode(t, plugins, 0o777)
			mkdirMode(t, filepath.Join(data, "run", "records"), 0o700)
			stale = append(stale, deadSocket(t, filepath.Join(plugins, "plugin4242")))
			stale = append(stale, looseFile(t, filepath.Join(plugins, "plugin77")))
			looseFile(t, filepath.Join(data, "run", "records", "telnet.json.tmp"))
			looseFile(t, filepath.Join(data, "run", "portico.pid"))
		}})
	waitAllRunning(h)
	player := dialTelnet(t, h.telnetAddr)
	player.login("Umask", "umaskpass1", true)

	first := checkSockets(t, h, tmp, "at start")
	for _, path := range stale {
		if _, err := os.Lstat(path); !os.IsNotExist(err) {
			t.Fatalf("the stale %s in run/plugins was not removed at start (err %v)", path, err)
		}
	}

	// A reload re-executes the host: the new image must keep the sockets
	// of the plugins it reattaches to.
	runPortico(t, h, "", "reload")
	player.expect("Server restarted.")
	waitAllRunning(h)
	if got := checkSockets(t, h, tmp, "after a reload"); !sameSockets(got, first) {
		t.Fatalf("plugin sockets changed across a reload:\nbefore %v\nafter  %v", first, got)
	}
	player.send("ping after reload")
	player.expect("pong after reload")

	// A host crash: a dead socket appears meanwhile; the restarted host
	// removes it and keeps the live plugins' sockets.
	orphan := deadSocket(t, filepath.Join(h.dir, "data", "run", "plugins", "plugin5151"))
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-h.exited
	player.expect("The server is restarting; please wait a moment.")
	h.start()
	player.expect("Server restarted.")
	waitAllRunning(h)
	if got := checkSockets(t, h, tmp, "after a host crash"); !sameSockets(got, first) {
		t.Fatalf("plugin sockets changed across a host crash and restart:\nbefore %v\nafter  %v", first, got)
	}
	if _, err := os.Lstat(orphan); !os.IsNotExist(err) {
		t.Fatalf("the stale %s was not removed when the host restarted (err %v)", orphan, err)
	}
	player.send("ping after crash")
	player.expect("pong after crash")

	// A plugin killed outright cannot remove its socket: the host does.
	telnet := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	if err := syscall.Kill(telnet.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	player.expectClosed()
	h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" && p.PID != telnet.PID })
	waitAllRunning(h)
	got := checkSockets(t, h, tmp, "after the telnet plugin was killed")
	for _, sock := range first["telnet"] {
		if _, err := os.Lstat(sock); !os.IsNotExist(err) {
			t.Fatalf("the killed telnet plugin's socket %s is still there (err %v)", sock, err)
		}
	}
	if !slices.Equal(got["ssh"], first["ssh"]) || !slices.Equal(got["websocket"], first["websocket"]) {
		t.Fatalf("the other plugins' sockets changed when telnet died: %v -> %v", first, got)
	}

	pids := []int{}
	st, err := h.status()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Plugins {
		pids = append(pids, p.PID)
	}
	runPortico(t, h, "", "stop")
	select {
	case <-h.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the host did not exit after portico stop")
	}
	waitGone(t, pids)
	if left := socketsUnder(t, filepath.Join(h.dir, "data")); len(left) > 0 {
		t.Fatalf("sockets left after portico stop: %v", left)
	}
	if entries, err := os.ReadDir(filepath.Join(h.dir, "data", "run", "plugins")); err != nil || len(entries) > 0 {
		t.Fatalf("run/plugins after portico stop: %v (err %v)", entries, err)
	}
	checkTempDir(t, tmp)
}

// waitAllRunning waits until the telnet, SSH and websocket plugins all
// run (a reattach after a reload or a crash takes each a moment).
func waitAllRunning(h *testHost) {
	h.t.Helper()
	for _, name := range []string{"telnet", "ssh", "websocket"} {
		h.waitPlugin(name, func(p pluginStatus) bool { return p.State == "running" })
	}
}

// checkSockets checks the run directory of a running host and returns
// each plugin's listening sockets (go-plugin's and its data socket, sorted)
// by plugin name.
func checkSockets(t *testing.T, h *testHost, tmp, when string) map[string][]string {
	t.Helper()
	data := filepath.Join(h.dir, "data")
	run := filepath.Join(data, "run")
	plugins := filepath.Join(run, "plugins")
	for _, dir := range []string{run, plugins} {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %s has mode %v, want 0700", when, dir, fi.Mode().Perm())
		}
	}
	// Nothing under the data directory is open to group or others: the
	// sockets, the pid file, the records (they may hold the link's mTLS
	// key), the database and the logs. The SSH host's public key is
	// public on purpose.
	err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			if os.IsNotExist(err) {
				return nil // a temp file that came and went
			}
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 && !strings.HasSuffix(path, ".pub") {
			t.Errorf("%s: %s has mode %v: open to group or others", when, path, fi.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	st, err := h.status()
	if err != nil {
		t.Fatal(err)
	}
	bound := map[string][]string{}
	for _, p := range st.Plugins {
		if p.State != "running" {
			t.Fatalf("%s: plugin %s is %s", when, p.Name, p.State)
		}
		socks := listeningUnixSockets(t, p.PID)
		if len(socks) != 2 || !strings.HasPrefix(filepath.Base(socks[0]), "data") ||
			!strings.HasPrefix(filepath.Base(socks[1]), "plugin") {
			t.Fatalf("%s: plugin %s (pid %d) listens on unix sockets %v; want go-plugin's and its data socket, in %s",
				when, p.Name, p.PID, socks, plugins)
		}
		for _, sock := range socks {
			if filepath.Dir(sock) != plugins {
				t.Fatalf("%s: plugin %s listens on %s, not in %s", when, p.Name, sock, plugins)
			}
		}
		bound[p.Name] = socks
	}
	if len(bound) != 3 {
		t.Fatalf("%s: plugins %v; want telnet, ssh and websocket", when, bound)
	}
	if socks := listeningUnixSockets(t, h.cmd.Process.Pid); !slices.Equal(socks, []string{filepath.Join(run, "control.sock")}) {
		t.Fatalf("%s: the host listens on unix sockets %v; want only its control socket", when, socks)
	}
	// run/plugins holds the plugins' sockets and nothing else, each usable
	// by its owner only.
	entries, err := os.ReadDir(plugins)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, filepath.Join(plugins, e.Name()))
	}
	var want []string
	for _, socks := range bound {
		want = append(want, socks...)
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("%s: run/plugins holds %v; want the plugins' sockets %v", when, names, want)
	}
	for _, path := range append(want, filepath.Join(run, "control.sock")) {
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm()&0o077 != 0 {
			t.Fatalf("%s: %s has mode %v; want a socket with no group or other bits", when, path, fi.Mode())
		}
	}
	checkTempDir(t, tmp)
	return bound
}

// checkTempDir fails if anything was made in the temp directory the host
// and its plugins were given.
func checkTempDir(t *testing.T, tmp string) {
	t.Helper()
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s was made in the temp directory (go-plugin's default socket place)", filepath.Join(tmp, e.Name()))
	}
}

func sameSockets(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(b[k], v) {
			return false
		}
	}
	return true
}

// listeningUnixSockets returns the paths of the unix sockets process pid
// listens on, sorted, wherever they are: its descriptors' socket inodes
// matched against /proc/net/unix.
func listeningUnixSockets(t *testing.T, pid int) []string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("descriptors of pid %d: %v", pid, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Num RefCount Protocol Flags Type St Inode Path; Flags has
	// __SO_ACCEPTCON (0x10000) on a listening socket.
	const acceptCon = 0x10000
	var paths []string
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || !inodes[fields[6]] {
			continue
		}
		flags, err := strconv.ParseUint(fields[3], 16, 32)
		if err != nil || flags&acceptCon == 0 {
			continue
		}
		paths = append(paths, strings.Join(fields[7:], " "))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	return paths
}

// socketsUnder lists every socket file below dir.
func socketsUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type() == fs.ModeSocket {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitGone waits (bounded) until none of pids is a live process: the
// plugins end with the host's stop.
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, pid := range pids {
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			// Gone, or a zombie waiting for its reaper: either way it no
			// longer serves its socket.
			if err != nil || strings.Contains(string(b), ") Z ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("plugin process %d still running after portico stop", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func mkdirMode(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

// looseFile makes an empty file anyone may read and write.
func looseFile(t *testing.T, path string) string {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	return path
}

// deadSocket leaves a socket file at path with no process behind it, as
// a plugin killed outright does.
func deadSocket(t *testing.T, path string) string {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
