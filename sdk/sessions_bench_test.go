package sdk

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// BenchmarkSessionsCall is a reattaching host's Sessions call to a plugin
// holding 10,000 logged-in telnet sessions, over gRPC on a unix socket
// with the Link's options, as a reload makes it: "raw" reads the answer as
// the host does (wire.RawSessionsAnswer, ReadSessions), "proto" as it did
// before (unmarshalled into portalpb.SessionData, then SessionFromPB).
func BenchmarkSessionsCall(b *testing.B) {
	const n = 10000
	ctx := context.Background()
	srv := NewServer(newTestPlugin(), discardLog())
	b.Cleanup(srv.Close)
	if _, err := srv.Configure(ctx, &portalpb.ConfigureRequest{ConfigJson: []byte(`{}`), Host: hostInfo(1, 2*n)}); err != nil {
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
	client := portalpb.NewPortalClient(cc)
	count := func(b *testing.B, got int) {
		if got != n {
			b.Fatalf("%d sessions read, want %d", got, n)
		}
	}
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
