package sdk

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// BenchmarkSessionsCall is a reattaching host's Sessions call to a plugin
// holding 10,000 logged-in telnet sessions, over gRPC on a unix socket
// with the Link's options, as a reload makes it: "paged" reads the answer
// as the host does (in pages, wire.ReadSessionPages, with
// wire.RawSessionsAnswer: 10,000 sessions are one page), "raw" as the host
// did before pages (one whole answer, ReadSessions), "proto" as it did
// before that (unmarshalled into portalpb.SessionData, then SessionFromPB).
func BenchmarkSessionsCall(b *testing.B) {
	const n = 10000
	client := benchSessionsPlugin(b, n, nil)
	ctx := context.Background()
	count := func(b *testing.B, got int) {
		if got != n {
			b.Fatalf("%d sessions read, want %d", got, n)
		}
	}
	b.Run("paged", func(b *testing.B) {
		for b.Loop() {
			count(b, readPaged(b, client))
		}
	})
	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			resp, err := client.Sessions(ctx, &portalpb.SessionsRequest{}, wire.RawSessionsAnswer())
			if err != nil {
				b.Fatal(err)
			}
			got := 0
			if err := wire.ReadSessions(resp, func(_ contract.SessionData, err error) {
				if err != nil {
					b.Fatal(err)
				}
				got++
			}); err != nil {
				b.Fatal(err)
			}
			count(b, got)
		}
	})
	b.Run("proto", func(b *testing.B) {
		for b.Loop() {
			resp, err := client.Sessions(ctx, &portalpb.SessionsRequest{})
			if err != nil {
				b.Fatal(err)
			}
			for _, pd := range resp.GetSessions() {
				if _, err := wire.SessionFromPB(pd); err != nil {
					b.Fatal(err)
				}
			}
			count(b, len(resp.GetSessions()))
		}
	})
}

// BenchmarkSessionsCallServerData is the host's paged Sessions call to a
// plugin holding 10,000 sessions with 2 KB of server data each: some
// 22 MB, more than one gRPC message, which the host could not read whole
// before pages (it reads three).
func BenchmarkSessionsCallServerData(b *testing.B) {
	const n = 10000
	note := strings.Repeat("s", 2000)
	client := benchSessionsPlugin(b, n, func(d *SessionData) { d.ServerData = map[string]any{"note": note} })
	for b.Loop() {
		if got := readPaged(b, client); got != n {
			b.Fatalf("%d sessions read, want %d", got, n)
		}
	}
}

// benchSessionsPlugin serves a plugin holding n logged-in telnet sessions
// (each changed by update, when not nil) on a unix socket with the Link's
// options, and returns the host's client of it.
func benchSessionsPlugin(b *testing.B, n int, update func(d *SessionData)) portalpb.PortalClient {
	ctx := context.Background()
	srv := NewServer(newTestPlugin(), discardLog())
	b.Cleanup(srv.Close)
	if _, err := srv.Configure(ctx, &portalpb.ConfigureRequest{ConfigJson: []byte(`{}`), Host: hostInfo(1, uint64(2*n))}); err != nil {
		b.Fatal(err)
	}
	portal := srv.Portal()
	for i := range n {
		s, err := portal.NewSession(ctx, newFakeConn(), "telnet", "127.0.0.1:"+strconv.Itoa(10000+i))
		if err != nil {
			b.Fatal(err)
		}
		s.SetFlags(map[string]any{
			contract.FlagNoGoAhead: true, contract.FlagScreenWidth: 78, contract.FlagScreenHeight: 45,
			contract.FlagTTYPE: true, contract.FlagANSI: true, contract.FlagClientName: "UNKNOWN", contract.FlagUTF8: true,
		})
		s.Connect()
		s.Update(func(d *SessionData) { d.LoggedIn, d.UID, d.UName, d.CmdsetStorageString = true, 7, "bench", "account" })
		if update != nil {
			s.Update(update)
		}
	}
	path := filepath.Join(b.TempDir(), "portal.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	gs := grpc.NewServer(wire.ServerOptions()...)
	if err := (&GRPCPlugin{Impl: srv}).GRPCServer(nil, gs); err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(lis)
	}()
	b.Cleanup(func() { gs.Stop(); <-served })
	cc, err := grpc.NewClient("unix://"+path, append(wire.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	return portalpb.NewPortalClient(cc)
}

// readPaged reads a plugin's sessions as a reattaching host does, and
// returns how many decoded.
func readPaged(b *testing.B, client portalpb.PortalClient) int {
	pages, err := wire.ReadSessionPages(context.Background(), func(ctx context.Context, req *portalpb.SessionsRequest) (*portalpb.SessionsResponse, error) {
		return client.Sessions(ctx, req, wire.RawSessionsAnswer())
	}, 0)
	if err != nil {
		b.Fatal(err)
	}
	got := 0
	if err := pages.Range(func(_ contract.SessionData, err error) {
		if err != nil {
			b.Fatal(err)
		}
		got++
	}); err != nil {
		b.Fatal(err)
	}
	return got
}
