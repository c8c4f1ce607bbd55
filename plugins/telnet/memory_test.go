package main

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
)

// waitParked waits until n connections are parked in p's poller.
func waitParked(t *testing.T, p *Plugin, n int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for p.poller.Len() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections parked, want %d", p.poller.Len(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestIdleConnectionParks checks a telnet session through its idle life:
// a quiet connection is parked (no goroutine, no buffer), its input still
// reaches the host and output the client, it parks again, and it ends
// properly whether the client hangs up or the plugin shuts down while it
// is parked.
func TestIdleConnectionParks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("connections are parked on Linux only")
	}
	portal := sdk.NewTestPortal(testLogger())
	p := &Plugin{idleAfter: 20 * time.Millisecond}
	if _, err := p.Configure(context.Background(), sdk.Config{Raw: map[string]any{"listen": "127.0.0.1:0"},
		Host: sdk.HostInfo{Limits: sdk.Limits{MaxInputLength: 100}}}, portal); err != nil {
		t.Fatal(err)
	}
	col := collect(portal)
	defer col.stop(t)

	client, id := dialClient(t, p, col)
	waitParked(t, p, 1)
	if _, err := client.Write([]byte("look\r\n")); err != nil {
		t.Fatal(err)
	}
	expectDataIn(t, col, id, "look")
	waitParked(t, p, 1)
	s := portal.Session(id)
	s.Conn().Send(s, []sdk.Message{sdk.Text("You see nothing special.")})
	_ = client.SetReadDeadline(time.Now().Add(waitFor))
	var got []byte
	buf := make([]byte, 512)
	for !bytes.Contains(got, []byte("You see nothing special.")) {
		n, err := client.Read(buf)
		if err != nil {
			t.Fatalf("reading output of a parked session: %v (have %q)", err, got)
		}
		got = append(got, buf[:n]...)
	}

	// The client hangs up while parked: the host hears of it.
	client.Close()
	if ev := col.next(t); ev.GetDisconnected().GetSessid() != id {
		t.Fatalf("event = %v, want Disconnected of %d", ev, id)
	}
	waitParked(t, p, 0)

	// Shut down with a session parked: it ends at once.
	_, id2 := dialClient(t, p, col)
	waitParked(t, p, 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	start := time.Now()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a parked session: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Shutdown took %v with a parked session", d)
	}
	if ev := col.next(t); ev.GetDisconnected().GetSessid() != id2 {
		t.Fatalf("event = %v, want Disconnected of %d", ev, id2)
	}
}

// TestSendReadsFlagsInPlace checks that output does not copy the session's
// protocol flags: a copy of the map per Send was about 1.2 KiB of garbage
// per session per line (1,448 bytes a Send in all before, 160 after), and
// a broadcast to 10,000 sessions made 12 MB of it at once.
func TestSendReadsFlagsInPlace(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := h.client.Read(buf); err != nil {
				return
			}
		}
	}()
	msgs := []sdk.Message{sdk.Text("You see nothing special.")}
	h.c.Send(h.sess, msgs) // warm up
	const runs = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		h.c.Send(h.sess, msgs)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 600 {
		t.Fatalf("a Send of one line allocates %d bytes; the flags are being copied", per)
	}
}
