package sdk_test

import (
	"log/slog"
	"net"
	"testing"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// TestFileLimitReal runs a FileLimitListener in a helper process whose
// open-file limit is used up: clients are told and closed at once instead
// of hanging, and the limit is logged once.
func TestFileLimitReal(t *testing.T) {
	plugintest.RefusedAtFileLimit(t, sdk.RefusalLine, func(log *slog.Logger) (string, func()) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err.Error(), func() {}
		}
		fl := sdk.FileLimitListener(ln, sdk.FileLimitOptions{Refusal: sdk.RefusalLine, Name: "helper", Log: log})
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
	})
}
