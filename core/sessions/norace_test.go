//go:build !race

package sessions

// raceEnabled: see race_test.go.
const raceEnabled = false
