package plugins

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The input receipt: the highest input seq the host has taken from a
// plugin process's link, kept in a small file beside the plugin's record
// (<run>/records/<name>.receipt, 0600). The host stores it before it runs
// that input, into the file mapped in its memory (shared), so that it
// outlives the host: the page is the kernel's page cache, and a kill -9
// (or a panic) cannot take a store back. The host that reattaches to the
// process reads it and tells the plugin (ConfigureRequest.input_receipt):
// input above it never ran anywhere, and the plugin sends it again; input
// at or below it that was not acknowledged as finished may have run, and
// its players are told. An acknowledgement on the link could not do this:
// the host would have to write it, and have it leave the process, before
// it runs the input, which costs a write and a wake-up of the plugin on
// every line; the mapped file costs a memory store per batch (a write(2)
// per batch costs microseconds on ext4: each one updates the file's
// times), and only the next host reads it. A machine that loses power
// loses the plugins too, so page-cache durability is enough.

// receiptMagic starts a receipt file, so that a file of another kind (or a
// torn one) is not read as a receipt.
var receiptMagic = [8]byte{'P', 'R', 'C', 'P', 'T', '0', '0', '1'}

// receiptSize is the file's size: the magic and the seq, in the machine's
// byte order (the file never leaves it).
const receiptSize = 16

func (m *Manager) receiptPath(name string) string {
	return filepath.Join(m.recordDir(), name+".receipt")
}

// receipt is the open receipt file of one plugin run, mapped. Only the
// run's link reader records into it.
type receipt struct {
	f    *os.File
	mem  []byte
	last uint64
}

// openReceipt opens plugin name's receipt file. A fresh process starts at
// 0 (fresh); a reattached one keeps what the file holds. ok is false when
// the file could not be read as a receipt (missing, damaged): the file is
// then started afresh at 0, and the plugin told that the host does not
// know how far earlier hosts got.
func (m *Manager) openReceipt(name string, fresh bool) (r *receipt, received uint64, ok bool, err error) {
	if err := os.MkdirAll(m.recordDir(), 0o700); err != nil {
		return nil, 0, false, fmt.Errorf("plugins: receipt: %w", err)
	}
	f, err := os.OpenFile(m.receiptPath(name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, false, fmt.Errorf("plugins: receipt: %w", err)
	}
	ok = fresh
	var b [receiptSize]byte
	if !fresh {
		n, rerr := f.ReadAt(b[:], 0)
		if n == receiptSize && [8]byte(b[:8]) == receiptMagic {
			received, ok = binary.NativeEndian.Uint64(b[8:]), true
		} else if rerr != nil && !errors.Is(rerr, io.EOF) {
			f.Close()
			return nil, 0, false, fmt.Errorf("plugins: receipt: %w", rerr)
		}
	}
	copy(b[:8], receiptMagic[:])
	binary.NativeEndian.PutUint64(b[8:], received)
	if _, err := f.WriteAt(b[:], 0); err != nil {
		f.Close()
		return nil, 0, false, fmt.Errorf("plugins: receipt: %w", err)
	}
	if err := f.Truncate(receiptSize); err != nil {
		f.Close()
		return nil, 0, false, fmt.Errorf("plugins: receipt: %w", err)
	}
	// The file is only ever this long: a mapping past its end would fault
	// (SIGBUS) if someone cut it short, and nobody but the host writes the
	// 0700 run directory.
	mem, err := syscall.Mmap(int(f.Fd()), 0, receiptSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, 0, false, fmt.Errorf("plugins: receipt: map: %w", err)
	}
	return &receipt{f: f, mem: mem, last: received}, received, ok, nil
}

// record notes that input up to seq has been taken from the link; it must
// be called before that input runs. The store is one aligned 8-byte word
// (the mapping starts a page), written atomically, so that a host killed
// at any instant leaves either the old seq or the new one, never a mix.
func (r *receipt) record(seq uint64) {
	if seq <= r.last {
		return
	}
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&r.mem[8])), seq)
	r.last = seq
}

// close unmaps and closes the file; what was recorded stays in it.
func (r *receipt) close() error {
	err := syscall.Munmap(r.mem)
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("plugins: receipt: %w", err)
	}
	return nil
}

// removeReceipt removes plugin name's receipt file, with its record.
func (m *Manager) removeReceipt(name string) {
	if err := os.Remove(m.receiptPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		m.log.Warn("remove input receipt", "plugin", name, "err", err)
	}
}
