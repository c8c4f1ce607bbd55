//go:build race

package sessions

// raceEnabled: the race detector slows everything down many times, so
// timing bounds are not checked under it.
const raceEnabled = true
