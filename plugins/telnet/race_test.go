//go:build race

package main

// raceEnabled: under the race detector a sync.Pool drops objects on
// purpose and allocation counts mean nothing, so they are checked in a
// build without it (make test runs those tests again without -race).
const raceEnabled = true
