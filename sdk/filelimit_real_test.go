package sdk_test

import (
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// TestFileLimitReal runs a FileLimitListener in a helper process whose
// open-file limit is used up, and checks that clients are told and closed
// at once instead of hanging, and that the helper logged the limit once.
func TestFileLimitReal(t *testing.T) {
	if plugintest.FileLimitHelper(func() (string, func()) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err.Error(), func() {}
		}
		fl := sdk.FileLimitListener(ln, sdk.FileLimitOptions{Refusal: sdk.RefusalLine, Name: "helper",
			Log: slog.New(slog.NewTextHandler(os.Stderr, nil))})
		done := make(chan struct{})
		go func() {
			defer close(done)
			var held []net.Conn
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for {
				nc, err := fl.Accept()
				if err != nil {
					return
				}
				held = append(held, nc)
			}
		}()
		return ln.Addr().String(), func() { fl.Close(); <-done }
	}) {
		return
	}
	log := plugintest.DialAtFileLimit(t, 10, sdk.RefusalLine)
	if n := strings.Count(log, "at the open-file limit: refusing"); n != 1 {
		t.Fatalf("%d warnings for 10 refusals, want 1:\n%s", n, log)
	}
}
