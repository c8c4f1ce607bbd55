package lines_test

import (
	"fmt"

	"github.com/portico-mud/portico/sdk/lines"
)

// A Splitter turns a connection's reads into lines, whatever the client's
// line ending and however the bytes were cut into reads.
func ExampleSplitter_Feed() {
	s := lines.Splitter{Max: 10}
	emit := func(line []byte, tooLong bool) { fmt.Printf("%q tooLong=%v\n", line, tooLong) }
	for _, read := range []string{"look\r", "\nsay hi\nwho", "\r\n", "0123456789abcdef\n"} {
		s.Feed([]byte(read), emit)
	}
	// Output:
	// "look" tooLong=false
	// "say hi" tooLong=false
	// "who" tooLong=false
	// "0123456789" tooLong=true
}
