// Package attrs is a game's persistent attribute store: key → value on an
// owner — an account, a character, or anything a game names with a kind
// and an id (a room, the world) — kept in the host's database.
//
// Values are Go values encoded as JSON: Set encodes, Get decodes into a
// pointer, as encoding/json does, so that every Get hands out a fresh copy
// and no caller can change a stored value behind the store's back.
//
// # What it costs the game loop
//
// Game code runs on the session handler's loop, which must never wait for
// a disk. The store keeps every owner it has been asked about in memory:
// the first Get, Keys, Set or Delete of an owner reads all of that owner's
// attributes with one indexed query on the database's read pool (in WAL
// mode a read never waits for a writer), and from then on Get answers from
// memory. Set and Delete change memory at once — a Get right after sees
// the new value — and queue the write for one writer goroutine, off the
// loop, which applies whatever is queued in one transaction, in the order
// it was queued (one disk flush for a burst of changes). This is how the
// handler saves its session logins (core/sessions/logins.go).
//
// # Durability
//
// A change is durable a few milliseconds after Set returns, once its
// transaction commits. The host flushes the store (Close) before it
// re-executes itself for a reload and before it stops, so neither loses a
// change; a crash (or kill -9) can lose the changes of the last
// milliseconds. A write that fails (a full disk) is logged, and Flush
// reports it; the value stays in memory for the life of the host image.
//
// The store is safe for use from any goroutine; the game uses it from its
// commands and hooks, on the loop. The host is the only writer of the
// attributes table while it runs: a value changed in the database by
// another process is not seen by a running host.
package attrs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/portico-mud/portico/core/store"
)

// Owner kinds the host itself knows; a game may use any other kind that
// is lower-case letters, digits and _ (at most 32, starting with a letter).
const (
	KindAccount   = "account"
	KindCharacter = "character"
	KindWorld     = "world"
)

// Limits on what may be stored, so that one mistake cannot fill memory or
// the database: attributes are for game state, not for files.
const (
	// MaxKeyLength is the longest key, in bytes.
	MaxKeyLength = 128
	// MaxValueSize is the largest value, in bytes of JSON.
	MaxValueSize = 64 << 10
)

// ErrClosed is returned by Set and Delete once the store is closed.
var ErrClosed = errors.New("attrs: store closed")

// Owner is what attributes belong to: a kind and an id.
type Owner struct {
	Kind string
	ID   int64
}

// Account is the owner of an account's attributes.
func Account(id int64) Owner { return Owner{Kind: KindAccount, ID: id} }

// Character is the owner of a character's attributes.
func Character(id int64) Owner { return Owner{Kind: KindCharacter, ID: id} }

// World is the owner of the game's own, world-wide attributes.
func World() Owner { return Owner{Kind: KindWorld} }

// String names the owner for messages: "character 12".
func (o Owner) String() string { return fmt.Sprintf("%s %d", o.Kind, o.ID) }

var kindRule = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

func (o Owner) check() error {
	if !kindRule.MatchString(o.Kind) {
		return fmt.Errorf("attrs: owner kind %q: want lower-case letters, digits and _, starting with a letter, at most 32", o.Kind)
	}
	if o.ID < 0 {
		return fmt.Errorf("attrs: %s: a negative id", o)
	}
	return nil
}

func checkKey(o Owner, key string) error {
	if err := o.check(); err != nil {
		return err
	}
	if key == "" || len(key) > MaxKeyLength || !utf8.ValidString(key) {
		return fmt.Errorf("attrs: %s: key %q: want 1 to %d bytes of UTF-8", o, key, MaxKeyLength)
	}
	return nil
}

// Store is the attribute store. Make it with New.
type Store struct {
	db  *store.Store
	log *slog.Logger

	mu sync.Mutex
	// cache holds every owner loaded, with all of its attributes (JSON).
	cache map[Owner]map[string][]byte
	// queue is what the writer has yet to apply; running is set while a
	// writer goroutine runs, idle is closed while none does.
	queue   []store.AttributeChange
	running bool
	idle    chan struct{}
	closed  bool
	// err is the first write error since the last Flush.
	err error
}

// New makes an attribute store on db. log receives write errors (nil:
// slog.Default()).
func New(db *store.Store, log *slog.Logger) *Store {
	if log == nil {
		log = slog.Default()
	}
	idle := make(chan struct{})
	close(idle)
	return &Store{db: db, log: log, cache: map[Owner]map[string][]byte{}, idle: idle}
}

// load returns o's attributes, reading them the first time. a.mu is held.
func (a *Store) load(o Owner) (map[string][]byte, error) {
	if m, ok := a.cache[o]; ok {
		return m, nil
	}
	rows, err := a.db.Attributes(context.Background(), o.Kind, o.ID)
	if err != nil {
		return nil, fmt.Errorf("attrs: %w", err)
	}
	m := make(map[string][]byte, len(rows))
	for k, v := range rows {
		m[k] = []byte(v)
	}
	a.cache[o] = m
	return m, nil
}

// Get decodes the attribute key of o into v (a pointer, as for
// json.Unmarshal) and reports whether it exists; v is left alone when it
// does not.
func (a *Store) Get(o Owner, key string, v any) (bool, error) {
	if err := checkKey(o, key); err != nil {
		return false, err
	}
	a.mu.Lock()
	m, err := a.load(o)
	var raw []byte
	if err == nil {
		raw = m[key]
	}
	a.mu.Unlock()
	if err != nil || raw == nil {
		return false, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("attrs: %s %q: %w", o, key, err)
	}
	return true, nil
}

// Set stores v (encoded as JSON) as the attribute key of o. A Get sees it
// at once; it is written to the database shortly after, off the caller's
// goroutine (see the package doc).
func (a *Store) Set(o Owner, key string, v any) error {
	if err := checkKey(o, key); err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("attrs: %s %q: %w", o, key, err)
	}
	if len(raw) > MaxValueSize {
		return fmt.Errorf("attrs: %s %q: the value is %d bytes of JSON, more than %d", o, key, len(raw), MaxValueSize)
	}
	return a.change(o, key, raw)
}

// Delete removes the attribute key of o; deleting one that does not exist
// is not an error.
func (a *Store) Delete(o Owner, key string) error {
	if err := checkKey(o, key); err != nil {
		return err
	}
	return a.change(o, key, nil)
}

// change applies a set (raw) or a delete (nil) in memory and queues it.
func (a *Store) change(o Owner, key string, raw []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	m, err := a.load(o)
	if err != nil {
		return err
	}
	c := store.AttributeChange{Kind: o.Kind, ID: o.ID, Key: key}
	if raw == nil {
		if _, ok := m[key]; !ok {
			return nil
		}
		delete(m, key)
		c.Delete = true
	} else {
		m[key] = raw
		c.Value = string(raw)
	}
	a.queue = append(a.queue, c)
	if !a.running {
		a.running = true
		a.idle = make(chan struct{})
		go a.write()
	}
	return nil
}

// Keys returns the keys o has, sorted.
func (a *Store) Keys(o Owner) ([]string, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	m, err := a.load(o)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// write is the writer goroutine: it applies the queue in batches, in
// order, until the queue is empty, then ends.
func (a *Store) write() {
	for {
		a.mu.Lock()
		batch := a.queue
		a.queue = nil
		if len(batch) == 0 {
			a.running = false
			close(a.idle)
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
		if err := a.db.ApplyAttributes(context.Background(), batch); err != nil {
			a.log.Error("attributes not saved", "changes", len(batch), "first", fmt.Sprintf("%s %d %q", batch[0].Kind, batch[0].ID, batch[0].Key), "err", err)
			a.mu.Lock()
			if a.err == nil {
				a.err = err
			}
			a.mu.Unlock()
		}
	}
}

// Flush waits until every change made so far is written, or ctx ends. It
// returns the first write error since the last Flush, if any.
func (a *Store) Flush(ctx context.Context) error {
	a.mu.Lock()
	idle := a.idle
	a.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
		return fmt.Errorf("attrs: flush: %w", ctx.Err())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.err
	a.err = nil
	return err
}

// Close refuses further changes and waits until every change made is
// written. The host closes the store before it re-executes itself or
// stops.
func (a *Store) Close() error {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	return a.Flush(context.Background())
}
