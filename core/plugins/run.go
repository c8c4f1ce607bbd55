package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// One run of a plugin: reattach or launch, Configure, and serve its Link
// until either side ends it.

// runOnce reattaches to or launches the plugin and serves its link until
// either ends.
func (r *runner) runOnce(ctx context.Context) error {
	r.setState(StateStarting)
	r.mu.Lock()
	rec := r.reattach
	r.reattach = nil
	r.detaching = false
	r.detached = make(chan struct{})
	r.finish = nil
	outbox := wire.NewOutbox(0)
	r.outbox = outbox
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.accepting = false
		r.mu.Unlock()
	}()

	var client *hplugin.Client
	var portal portalpb.PortalClient
	if rec != nil {
		var err error
		client, portal, err = r.connect(rec)
		if err != nil {
			r.log.Warn("cannot reattach; starting the plugin afresh", "err", err)
			r.m.endRecorded(rec)
			rec = nil
		} else {
			reapIfChild(rec.Pid)
		}
	}
	if client == nil {
		var err error
		if client, portal, err = r.connect(nil); err != nil {
			return err
		}
		// A fresh process: the logins saved for the sessions of an earlier
		// one prove nothing now. Queued on the loop before any of its events.
		h := r.m.handler
		h.Do(func() { h.PluginLaunched(r.name) })
	}
	keep := false
	defer func() {
		if !keep {
			r.m.killClient(client)
			r.m.removeRecord(r.name)
		}
	}()
	pid := 0
	var addr net.Addr
	if rc := client.ReattachConfig(); rc != nil {
		pid, addr = rc.Pid, rc.Addr
	}
	start, err := r.grantFirstBlock(ctx, rec == nil)
	if err != nil {
		return err
	}
	cfgJSON, err := json.Marshal(r.currentSpec().Config)
	if err != nil {
		return fmt.Errorf("plugins: %s: encode config: %w", r.name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	hostInfo := hostFacts(r.m.config())
	hostInfo.SessidStart, hostInfo.SessidCount = start, sessidBlock
	resp, err := portal.Configure(cctx, &portalpb.ConfigureRequest{ConfigJson: cfgJSON, Host: hostInfo})
	cancel()
	if err != nil {
		return fmt.Errorf("plugins: %s: configure: %w", r.name, err)
	}
	r.mu.Lock()
	r.accepting = true
	r.mu.Unlock()
	if rec != nil {
		// Rebuild the host's sessions before any link event arrives: the
		// loop runs posted work in order.
		if err := r.restoreSessions(ctx, portal); err != nil {
			return err
		}
	}
	r.mu.Lock()
	version, mtls := r.version, r.mtls
	r.mu.Unlock()
	newRec := record{Name: r.name, Pid: pid, Exe: r.path, ProtocolVersion: version, MTLS: mtls.record(r.log),
		ProtocolKey: resp.GetProtocolKey(), ConfigJSON: string(cfgJSON), Started: time.Now(),
		Listen: listenerAddrs(resp.GetListeners())}
	if rec != nil {
		newRec.Exe, newRec.Started, newRec.Restarts = rec.Exe, rec.Started, rec.Restarts
	}
	if addr != nil {
		newRec.Network, newRec.Addr = addr.Network(), addr.String()
	}
	if st, _, err := procStartTicks(pid); err == nil {
		newRec.StartTicks = st
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		newRec.Exe = strings.TrimSuffix(exe, " (deleted)")
	}

	lctx, stopLink := context.WithCancel(ctx)
	defer stopLink()
	stream, err := portal.Link(lctx)
	if err != nil {
		return fmt.Errorf("plugins: %s: open link: %w", r.name, err)
	}
	if err := r.m.writeRecord(newRec); err != nil {
		r.log.Error("plugin record", "err", err)
	}
	sctx, stopSend := context.WithCancel(lctx)
	// sendDone is closed when the sending goroutine has returned.
	sendDone := make(chan struct{})
	r.mu.Lock()
	r.client, r.pid, r.key = portal, pid, resp.GetProtocolKey()
	r.started = newRec.Started
	if rec == nil {
		r.started = time.Now()
	}
	r.state = StateRunning
	r.lastErr = ""
	r.listeners = resp.GetListeners()
	r.lastFailure = ""
	r.finish = func() {
		// The reload's second step: everything the host queued goes out,
		// then the host closes its side; the plugin then ends the stream.
		stopSend()
		<-sendDone
		if err := outbox.Flush(stream.Send); err != nil {
			r.log.Warn("flush before reload", "err", err)
		}
		if err := stream.CloseSend(); err != nil {
			r.log.Warn("close link before reload", "err", err)
		}
	}
	r.mu.Unlock()
	r.quietRepeat.Store(false)
	r.settle()
	r.log.Info("plugin running", "pid", pid, "protocol", resp.GetProtocolKey(), "reattached", rec != nil,
		"listening", strings.Join(listenerNames(resp.GetListeners()), ", "))
	if hook := r.m.OnRunning; hook != nil {
		go hook(r.name, resp.GetProtocolKey())
	}

	go func() {
		defer close(sendDone)
		if err := outbox.Run(sctx, stream.Send); err != nil && !errors.Is(err, context.Canceled) {
			r.log.Warn("link: send", "err", err)
		}
	}()
	var recvErr error
	for {
		f, err := stream.Recv()
		if err != nil {
			recvErr = err
			break
		}
		r.handleFrame(ctx, f)
	}
	r.mu.Lock()
	detaching := r.detaching
	r.mu.Unlock()
	stopSend()
	stopLink()
	<-sendDone
	if detaching && errors.Is(recvErr, io.EOF) {
		keep = true
		return errDetached
	}
	if errors.Is(recvErr, io.EOF) {
		recvErr = errors.New("link closed by plugin")
	}
	if client.Exited() {
		return fmt.Errorf("plugins: %s: process %d exited: %w", r.name, pid, recvErr)
	}
	return fmt.Errorf("plugins: %s: link lost: %w", r.name, recvErr)
}

// restoreSessions asks a reattached plugin for its sessions and rebuilds
// them on the host (portal_sessions_sync).
func (r *runner) restoreSessions(ctx context.Context, portal portalpb.PortalClient) error {
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := portal.Sessions(sctx, &portalpb.SessionsRequest{})
	if err != nil {
		return fmt.Errorf("plugins: %s: sessions: %w", r.name, err)
	}
	all := make([]contract.SessionData, 0, len(resp.GetSessions()))
	for _, pd := range resp.GetSessions() {
		d, err := wire.SessionFromPB(pd)
		if err != nil {
			r.log.Warn("bad session from plugin", "err", err)
			continue
		}
		if !r.grantedSessid(d.Sessid, "sessions list") {
			continue
		}
		all = append(all, d)
	}
	h := r.m.handler
	h.Do(func() { h.PortalSessionsSync(r.name, all) })
	r.log.Info("sessions restored", "count", len(all))
	return nil
}
