package host

import "golang.org/x/sys/unix"

// withoutEcho runs f with the terminal fd's echo off, and puts the
// terminal back as it was. term.ReadPassword turns echo off too, but
// only once it is called: after the prompt has shown.
func withoutEcho(fd int, f func() error) error {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	return f()
}
