package plugins

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// record is what the host keeps on disk about a running plugin, so that a
// new host image (after a reload or a crash) can reattach to it, and can
// tell the process apart from an unrelated one that got the same pid
// (go-plugin PR #320).
type record struct {
	Name       string `json:"name"`
	Pid        int    `json:"pid"`
	StartTicks uint64 `json:"start_ticks"`
	Exe        string `json:"exe"`
	Network    string `json:"network"`
	Addr       string `json:"addr"`
	// DataAddr is the plugin's data socket, when the run links over it: a
	// sweep at start keeps it for a plugin being reattached, and it is
	// removed with the process. Its secret is not kept: a reattaching host
	// learns it from Configure, over go-plugin's connection, which is what
	// any host that may configure the plugin may know.
	DataAddr        string `json:"data_addr,omitempty"`
	ProtocolVersion int    `json:"protocol_version"`
	ProtocolKey     string `json:"protocol_key"`
	// MTLS is the link's kept key pair when it runs AutoMTLS (the file is
	// 0600 in a 0700 directory, like the plugin sockets it protects).
	MTLS *mtlsRecord `json:"mtls,omitempty"`
	// ConfigJSON is the config block the plugin was configured with; a
	// host whose config differs restarts the plugin instead of keeping it.
	ConfigJSON string `json:"config_json"`
	// Listen are the addresses the plugin listens on (its Configure's
	// listeners): a check of a new config does not count them as taken.
	Listen []string `json:"listen,omitempty"`
	// Instance is a remote plugin's process id (sdk/edge), from its
	// hello: a connection that says the same one is the same process,
	// and is reattached to. Pid is 0 and Addr its last address.
	Instance string    `json:"instance,omitempty"`
	Started  time.Time `json:"started"`
	Restarts int       `json:"restarts"`
	// Figures are the counts of the plugin's processes before this one
	// (figures.go), which a host image that reattaches goes on from.
	Figures *Figures `json:"figures,omitempty"`
}

func (m *Manager) recordDir() string { return filepath.Join(m.config().RunDir(), "records") }

func (m *Manager) recordPath(name string) string {
	return filepath.Join(m.recordDir(), name+".json")
}

// writeRecord saves rec atomically (write to a temp file, rename).
func (m *Manager) writeRecord(rec record) error {
	if err := os.MkdirAll(m.recordDir(), 0o700); err != nil {
		return fmt.Errorf("plugins: record dir: %w", err)
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("plugins: encode record: %w", err)
	}
	tmp := m.recordPath(rec.Name) + ".tmp"
	// A temp file a crashed host left keeps its mode through WriteFile:
	// start afresh, so that the record (it may hold the link's mTLS key)
	// is 0600 whatever the umask or the leftover.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("plugins: write record: %w", err)
	}
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("plugins: write record: %w", err)
	}
	if err := os.Rename(tmp, m.recordPath(rec.Name)); err != nil {
		return fmt.Errorf("plugins: write record: %w", err)
	}
	return nil
}

func (m *Manager) readRecord(name string) (*record, error) {
	b, err := os.ReadFile(m.recordPath(name))
	if err != nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("plugins: record %s: %w", name, err)
	}
	return &rec, nil
}

func (m *Manager) removeRecord(name string) {
	if err := os.Remove(m.recordPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		m.log.Warn("remove plugin record", "plugin", name, "err", err)
	}
	m.removeReceipt(name)
}

// recordNames lists the plugins that have records.
func (m *Manager) recordNames() []string {
	entries, err := os.ReadDir(m.recordDir())
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			names = append(names, n)
		}
	}
	return names
}

// procStartTicks reads a process's start time (clock ticks since boot,
// field 22 of /proc/<pid>/stat) and its parent pid. Together with the pid
// the start time names one process for the life of the machine.
func procStartTicks(pid int) (start uint64, ppid int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: parse
	// from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("plugins: /proc/%d/stat: malformed", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); field 4 is ppid, field 22 starttime.
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("plugins: /proc/%d/stat: too short", pid)
	}
	ppid, err = strconv.Atoi(fields[1])
	if err != nil {
		return 0, 0, fmt.Errorf("plugins: /proc/%d/stat: ppid: %w", pid, err)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("plugins: /proc/%d/stat: starttime: %w", pid, err)
	}
	return start, ppid, nil
}

// isSameProcess reports whether rec's pid still is the plugin process the
// record was written for: alive, same start time, same executable.
func isSameProcess(rec *record) bool {
	if rec.Pid <= 0 {
		return false
	}
	start, _, err := procStartTicks(rec.Pid)
	if err != nil || start != rec.StartTicks {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", rec.Pid))
	if err != nil {
		return false
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	return exe == rec.Exe
}

// killRecorded ends the process of a record, but only after checking it is
// still that process: a reused pid is never killed.
func killRecorded(rec *record) {
	if !isSameProcess(rec) {
		return
	}
	_ = syscall.Kill(rec.Pid, syscall.SIGTERM)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if !isSameProcess(rec) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	if isSameProcess(rec) {
		_ = syscall.Kill(rec.Pid, syscall.SIGKILL)
	}
}

// killHung ends a plugin process that stopped answering, at once: a
// stopped or wedged process handles no SIGTERM, and go-plugin's Kill would
// first wait for it to exit gracefully. Only after checking that the pid
// is still the process the run's record names: a reused pid is never
// killed.
func (m *Manager) killHung(rec record) {
	if !isSameProcess(&rec) {
		return
	}
	if err := syscall.Kill(rec.Pid, syscall.SIGKILL); err != nil {
		m.log.Warn("kill unresponsive plugin", "plugin", rec.Name, "pid", rec.Pid, "err", err)
	}
}

// reapIfChild waits for pid in the background when it is this process's
// child (plugins a reloaded host inherited from its previous image), so
// that it does not stay a zombie, which go-plugin would take for alive.
func reapIfChild(pid int) {
	_, ppid, err := procStartTicks(pid)
	if err != nil || ppid != os.Getpid() {
		return
	}
	go func() {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(pid, &ws, 0, nil)
			if err != syscall.EINTR {
				return
			}
		}
	}()
}
