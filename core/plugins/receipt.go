package plugins

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// The input receipt: the highest input seq the host has taken from a
// plugin process's link, kept in a small file beside the plugin's record
// (<run>/records/<name>.receipt, 0600). The host writes it before it runs
// that input, so that it outlives the host: a write to the file is in the
// kernel's page cache once the call returns, and a kill -9 (or a panic)
// cannot take it back. The host that reattaches to the process reads it
// and tells the plugin (ConfigureRequest.input_receipt): input above it
// never ran anywhere, and the plugin sends it again; input at or below it
// that was not acknowledged as finished may have run, and its players are
// told. An acknowledgement on the link could not do this: the host would
// have to write it, and have it leave the process, before it runs the
// input, which costs a write and a wake-up of the plugin on every line;
// the file costs one pwrite, and only the next host reads it. (A machine
// that loses power loses the plugins too, so page-cache durability is
// enough.)

// receiptMagic starts a receipt file, so that a file of another kind (or a
// torn one) is not read as a receipt.
var receiptMagic = [8]byte{'P', 'R', 'C', 'P', 'T', '0', '0', '1'}

// receiptSize is the file's size: the magic and the seq, little-endian.
const receiptSize = 16

func (m *Manager) receiptPath(name string) string {
	return filepath.Join(m.recordDir(), name+".receipt")
}

// receipt is the open receipt file of one plugin run. Only the run's link
// reader writes it.
type receipt struct {
	f    *os.File
	last uint64
	buf  [8]byte
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
	r = &receipt{f: f}
	ok = fresh
	if !fresh {
		var b [receiptSize]byte
		n, rerr := f.ReadAt(b[:], 0)
		if n == receiptSize && [8]byte(b[:8]) == receiptMagic {
			received, ok = binary.LittleEndian.Uint64(b[8:]), true
		} else if rerr != nil && !errors.Is(rerr, io.EOF) {
			f.Close()
			return nil, 0, false, fmt.Errorf("plugins: receipt: %w", rerr)
		}
	}
	var b [receiptSize]byte
	copy(b[:8], receiptMagic[:])
	binary.LittleEndian.PutUint64(b[8:], received)
	if _, err := f.WriteAt(b[:], 0); err != nil {
		f.Close()
		return nil, 0, false, fmt.Errorf("plugins: receipt: %w", err)
	}
	r.last = received
	return r, received, ok, nil
}

// record notes that input up to seq has been taken from the link; it must
// return before that input runs. A write that fails (it should not: the
// file's blocks exist, and an overwrite only touches the page cache) makes
// the receipt unknown instead, by removing the file: the next host then
// tells the plugin it does not know, and the plugin sends nothing again.
// The input still runs: refusing it would lose it for sure.
func (r *receipt) record(seq uint64) error {
	if seq <= r.last || r.f == nil {
		return nil
	}
	binary.LittleEndian.PutUint64(r.buf[:], seq)
	if _, err := r.f.WriteAt(r.buf[:], 8); err != nil {
		name := r.f.Name()
		r.f.Close()
		r.f = nil
		if rerr := os.Remove(name); rerr != nil {
			return fmt.Errorf("plugins: receipt: %w; and it cannot be removed: %w", err, rerr)
		}
		return fmt.Errorf("plugins: receipt: %w (removed: the next host will not know what this one received)", err)
	}
	r.last = seq
	return nil
}

func (r *receipt) close() {
	if r.f != nil {
		r.f.Close()
	}
}

// removeReceipt removes plugin name's receipt file, with its record.
func (m *Manager) removeReceipt(name string) {
	if err := os.Remove(m.receiptPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		m.log.Warn("remove input receipt", "plugin", name, "err", err)
	}
}
