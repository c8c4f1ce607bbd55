package plugins

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/sdk/launch"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// pluginConn is how one run reaches its plugin, and the only thing in a
// run that differs between a local plugin (a process launched, or
// reattached to, through go-plugin) and a remote one (an edge machine's
// connection to server.portal_listen, remote.go). Everything after it —
// Configure, the rebuilt sessions, the link, the record, Detach — is the
// same code for both (runOnce).
type pluginConn interface {
	// portal is the plugin's portal client.
	portal() portalpb.PortalClient
	// dataDialer dials the data link Configure's answer named, with tc
	// (nil: plain).
	dataDialer(resp *portalpb.ConfigureResponse, tc *tls.Config) dataDialer
	// fillRecord sets what the run's record says of the process or the
	// connection: pid and socket, or the edge's address.
	fillRecord(rec *record)
	// gone reports whether the process has exited, or the connection ended.
	gone() bool
	// what names the process or connection in errors.
	what(rec record) string
	// end ends the process, or closes the connection.
	end(r *runner, rec record)
}

// dataDialer opens a run's data link and proves the host on it: the
// connection and the reader of the plugin's frames after its hello.
type dataDialer func(ctx context.Context) (net.Conn, *wire.FrameReader, error)

// unixData dials a local plugin's data socket at path.
func unixData(path string, secret []byte, tc *tls.Config) dataDialer {
	return func(ctx context.Context) (net.Conn, *wire.FrameReader, error) {
		return launch.DialData(ctx, path, secret, tc)
	}
}

// localConn is a local plugin's process, through go-plugin.
type localConn struct {
	client *hplugin.Client
	pc     portalpb.PortalClient
}

func (c *localConn) portal() portalpb.PortalClient { return c.pc }

func (c *localConn) dataDialer(resp *portalpb.ConfigureResponse, tc *tls.Config) dataDialer {
	return unixData(resp.GetDataPath(), resp.GetDataSecret(), tc)
}

func (c *localConn) fillRecord(rec *record) {
	if rc := c.client.ReattachConfig(); rc != nil {
		rec.Pid = rc.Pid
		if rc.Addr != nil {
			rec.Network, rec.Addr = rc.Addr.Network(), rc.Addr.String()
		}
	}
}

func (c *localConn) gone() bool { return c.client.Exited() }

func (c *localConn) what(rec record) string { return fmt.Sprintf("process %d", rec.Pid) }

func (c *localConn) end(r *runner, rec record) { r.endRun(c.client, rec) }
