package connio_test

import (
	"fmt"
	"io"
	"net"

	"github.com/portico-mud/portico/sdk/connio"
)

// A Writer queues a client's output so that Send never blocks on the
// network; Close writes a last message after everything queued, then
// closes the connection.
func ExampleWriter() {
	server, client := net.Pipe()
	w := connio.NewWriter(server, connio.Options{})
	_ = w.Write([]byte("Welcome!\r\n"))
	w.Close([]byte("Goodbye.\r\n"))

	got, _ := io.ReadAll(client)
	<-w.Done()
	fmt.Printf("%q\n", got)
	// Output:
	// "Welcome!\r\nGoodbye.\r\n"
}
