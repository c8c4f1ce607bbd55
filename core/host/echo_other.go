//go:build !linux

package host

// withoutEcho runs f: elsewhere than Linux, term.ReadPassword alone turns
// echo off, once the prompt has shown.
func withoutEcho(_ int, f func() error) error { return f() }
