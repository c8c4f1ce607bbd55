package store_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/store"
)

// fast are argon2 parameters cheap enough for tests.
var fast = store.Options{Argon2: store.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}}

// testCtx returns a context that ends with the test or after a minute.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openAt opens the store at path with fast parameters and closes it when
// the test ends.
func openAt(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(path, fast)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestCreateAndAuthenticate(t *testing.T) { store.EachBackend(t, testCreateAndAuthenticate) }

func testCreateAndAuthenticate(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	s := openAt(t, db.Location)

	before := time.Now().Add(-time.Second)
	acc, err := s.CreateAccount(ctx, "Alice", "s3cret!", false)
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if acc.ID == 0 || acc.Name != "Alice" || acc.IsAdmin || acc.CharacterID == 0 {
		t.Fatalf("CreateAccount = %+v", acc)
	}
	if acc.Created.Before(before) || acc.Created.After(time.Now().Add(time.Second)) {
		t.Errorf("Created = %v, want about now", acc.Created)
	}
	if !acc.LastLogin.IsZero() {
		t.Errorf("LastLogin = %v before any login, want zero", acc.LastLogin)
	}

	for _, name := range []string{"Alice", "alice", "ALICE"} {
		got, err := s.Authenticate(ctx, name, "s3cret!")
		if err != nil {
			t.Fatalf("Authenticate(%q): %v", name, err)
		}
		if got.ID != acc.ID || got.Name != "Alice" || got.CharacterID != acc.CharacterID {
			t.Errorf("Authenticate(%q) = %+v, want account %+v", name, got, acc)
		}
		if got.LastLogin.Before(before) {
			t.Errorf("Authenticate(%q).LastLogin = %v, want about now", name, got.LastLogin)
		}
		stored, err := s.AccountByID(ctx, acc.ID)
		if err != nil {
			t.Fatalf("AccountByID: %v", err)
		}
		if !stored.LastLogin.Equal(got.LastLogin) {
			t.Errorf("stored LastLogin = %v, want %v", stored.LastLogin, got.LastLogin)
		}
	}
}

func TestAuthenticateWrongPassword(t *testing.T) { store.EachBackend(t, testAuthenticateWrongPassword) }

func testAuthenticateWrongPassword(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	s := openAt(t, db.Location)
	if _, err := s.CreateAccount(ctx, "Bob", "right-password", false); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"wrong-password", "", "Right-password", "right-password ", strings.Repeat("x", 2000)} {
		_, err := s.Authenticate(ctx, "Bob", pw)
		if !errors.Is(err, store.ErrBadCredentials) {
			t.Errorf("Authenticate(Bob, %.20q) error = %v, want ErrBadCredentials", pw, err)
		}
	}
	acc, err := s.AccountByName(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if !acc.LastLogin.IsZero() {
		t.Errorf("LastLogin = %v after failed logins only, want zero", acc.LastLogin)
	}
}

func TestAuthenticateUnknownUser(t *testing.T) { store.EachBackend(t, testAuthenticateUnknownUser) }

func testAuthenticateUnknownUser(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	s := openAt(t, db.Location)
	if _, err := s.CreateAccount(ctx, "Carol", "password", false); err != nil {
		t.Fatal(err)
	}
	_, errUnknown := s.Authenticate(ctx, "Mallory", "password")
	if !errors.Is(errUnknown, store.ErrBadCredentials) {
		t.Fatalf("unknown user: error = %v, want ErrBadCredentials", errUnknown)
	}
	// The message must not tell an unknown name from a wrong password.
	_, errWrong := s.Authenticate(ctx, "Mallory", "password")
	if errUnknown.Error() != errWrong.Error() {
		t.Errorf("errors differ: %q vs %q", errUnknown, errWrong)
	}
	if _, err := s.CreateAccount(ctx, "Mallory", "other", false); err != nil {
		t.Fatal(err)
	}
	_, errWrong = s.Authenticate(ctx, "Mallory", "password")
	if !errors.Is(errWrong, store.ErrBadCredentials) || errWrong.Error() != errUnknown.Error() {
		t.Errorf("wrong password: error = %q, want the same as for an unknown name, %q", errWrong, errUnknown)
	}
	for _, name := range []string{"", "x", strings.Repeat("n", 5000), "bad name\x00"} {
		if _, err := s.Authenticate(ctx, name, "password"); !errors.Is(err, store.ErrBadCredentials) {
			t.Errorf("Authenticate(%.20q) error = %v, want ErrBadCredentials", name, err)
		}
	}
}

func TestNameTakenOtherCase(t *testing.T) { store.EachBackend(t, testNameTakenOtherCase) }

func testNameTakenOtherCase(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	s := openAt(t, db.Location)
	if _, err := s.CreateAccount(ctx, "Dave", "password", false); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Dave", "dave", "DAVE", "dAvE"} {
		_, err := s.CreateAccount(ctx, name, "password2", false)
		if !errors.Is(err, store.ErrNameTaken) {
			t.Errorf("CreateAccount(%q) error = %v, want ErrNameTaken", name, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "store: create account ") || !strings.Contains(err.Error(), strconv.Quote(name)) {
			t.Errorf("CreateAccount(%q) error = %q, want store: context naming the account", name, err)
		}
	}
	if n, err := s.CountAccounts(ctx); err != nil || n != 1 {
		t.Errorf("CountAccounts = %d, %v; want 1", n, err)
	}
	// The original password still works and the original case is kept.
	acc, err := s.Authenticate(ctx, "DAVE", "password")
	if err != nil || acc.Name != "Dave" {
		t.Errorf("Authenticate = %+v, %v; want Dave", acc, err)
	}
}

func TestInvalidNamesAndPasswords(t *testing.T) { store.EachBackend(t, testInvalidNamesAndPasswords) }

func testInvalidNamesAndPasswords(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	s := openAt(t, db.Location)
	tests := []struct {
		name, password string
		want           error // nil: valid
	}{
		{"Abc", "pwd", nil},
		{"bcd", "pässwörd", nil},
		{"A23456789012345678901234567890", "pwd", nil}, // 30
		{"a_b-c9", "pwd", nil},
		{"Zed", "äöü", nil},                      // 3 characters, 6 bytes
		{"Long", strings.Repeat("p", 1024), nil}, // 1024 bytes
		{"ab", "password", store.ErrInvalidName}, // too short (31 below)
		{"", "password", store.ErrInvalidName},   // empty
		{"A234567890123456789012345678901", "password", store.ErrInvalidName},
		{"1abc", "password", store.ErrInvalidName},  // starts with a digit
		{"_abc", "password", store.ErrInvalidName},  // starts with '_'
		{"-abc", "password", store.ErrInvalidName},  // starts with '-'
		{"ab c", "password", store.ErrInvalidName},  // space
		{"abc.", "password", store.ErrInvalidName},  // punctuation
		{"Zoë", "password", store.ErrInvalidName},   // non-ASCII letter
		{"abc\n", "password", store.ErrInvalidName}, // control
		{"abc\x00d", "password", store.ErrInvalidName},
		{"Ok1", "", store.ErrInvalidPassword},
		{"Ok2", "pw", store.ErrInvalidPassword},
		{"Ok3", "äö", store.ErrInvalidPassword}, // 2 characters, 4 bytes
		{"Ok4", strings.Repeat("p", 1025), store.ErrInvalidPassword},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.24q", tt.name), func(t *testing.T) {
			_, err := s.CreateAccount(ctx, tt.name, tt.password, false)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CreateAccount(%q, %.10q) error = %v, want %v", tt.name, tt.password, err, tt.want)
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "store: create account ") {
					t.Errorf("error %q lacks store: context", err)
				}
				if len(tt.password) >= 3 && strings.Contains(err.Error(), tt.password) {
					t.Errorf("error %q contains the password", err)
				}
			}
			switch tt.want {
			case store.ErrInvalidName:
				if err := store.ValidateName(tt.name); !errors.Is(err, store.ErrInvalidName) {
					t.Errorf("ValidateName(%q) = %v, want ErrInvalidName", tt.name, err)
				}
			case store.ErrInvalidPassword:
				if err := store.ValidatePassword(tt.password); !errors.Is(err, store.ErrInvalidPassword) {
					t.Errorf("ValidatePassword = %v, want ErrInvalidPassword", err)
				}
			case nil:
				if err := store.ValidateName(tt.name); err != nil {
					t.Errorf("ValidateName(%q) = %v", tt.name, err)
				}
				if err := store.ValidatePassword(tt.password); err != nil {
					t.Errorf("ValidatePassword = %v", err)
				}
				if _, err := s.Authenticate(ctx, tt.name, tt.password); err != nil {
					t.Errorf("Authenticate after create: %v", err)
				}
			}
		})
	}
}

func TestCharacterCreatedWithAccount(t *testing.T) {
	store.EachBackend(t, testCharacterCreatedWithAccount)
}

func testCharacterCreatedWithAccount(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	s := openAt(t, db.Location)
	acc, err := s.CreateAccount(ctx, "Erin", "password", true)
	if err != nil {
		t.Fatal(err)
	}
	if !acc.IsAdmin {
		t.Errorf("IsAdmin = false, want true")
	}
	ch, err := s.CharacterByID(ctx, acc.CharacterID)
	if err != nil {
		t.Fatalf("CharacterByID(%d): %v", acc.CharacterID, err)
	}
	if want := (store.Character{ID: acc.CharacterID, Name: "Erin", AccountID: acc.ID}); ch != want {
		t.Errorf("character = %+v, want %+v", ch, want)
	}
	if _, err := s.CharacterByID(ctx, acc.CharacterID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CharacterByID(missing) error = %v, want ErrNotFound", err)
	}
}

func TestAccountLookupsAndAdmin(t *testing.T) { store.EachBackend(t, testAccountLookupsAndAdmin) }

func testAccountLookupsAndAdmin(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	s := openAt(t, db.Location)
	if n, err := s.CountAccounts(ctx); err != nil || n != 0 {
		t.Fatalf("CountAccounts on a new store = %d, %v; want 0", n, err)
	}
	a, err := s.CreateAccount(ctx, "Frank", "password", false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateAccount(ctx, "Grace", "password", false)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID || a.CharacterID == b.CharacterID {
		t.Fatalf("ids not distinct: %+v %+v", a, b)
	}
	if n, err := s.CountAccounts(ctx); err != nil || n != 2 {
		t.Errorf("CountAccounts = %d, %v; want 2", n, err)
	}

	got, err := s.AccountByName(ctx, "gRACE")
	if err != nil || got.ID != b.ID || got.Name != "Grace" {
		t.Errorf("AccountByName(gRACE) = %+v, %v; want Grace", got, err)
	}
	got, err = s.AccountByID(ctx, a.ID)
	if err != nil || got != a {
		t.Errorf("AccountByID = %+v, %v; want %+v", got, err, a)
	}
	if _, err := s.AccountByName(ctx, "Heidi"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AccountByName(missing) error = %v, want ErrNotFound", err)
	}
	if _, err := s.AccountByName(ctx, strings.Repeat("h", 10000)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AccountByName(long) error = %v, want ErrNotFound", err)
	}
	if _, err := s.AccountByID(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AccountByID(missing) error = %v, want ErrNotFound", err)
	}

	if err := s.SetAdmin(ctx, a.ID, true); err != nil {
		t.Fatalf("SetAdmin: %v", err)
	}
	if got, _ := s.AccountByID(ctx, a.ID); !got.IsAdmin {
		t.Errorf("IsAdmin = false after SetAdmin(true)")
	}
	if got, _ := s.AccountByID(ctx, b.ID); got.IsAdmin {
		t.Errorf("SetAdmin touched another account")
	}
	if err := s.SetAdmin(ctx, a.ID, false); err != nil {
		t.Fatalf("SetAdmin: %v", err)
	}
	if got, _ := s.AccountByID(ctx, a.ID); got.IsAdmin {
		t.Errorf("IsAdmin = true after SetAdmin(false)")
	}
	if err := s.SetAdmin(ctx, 9999, true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetAdmin(missing) error = %v, want ErrNotFound", err)
	}
}

func TestReserveSessidsMonotonic(t *testing.T) { store.EachBackend(t, testReserveSessidsMonotonic) }

func testReserveSessidsMonotonic(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	s := openAt(t, db.Location)
	next := uint64(1)
	for _, n := range []uint64{1, 1, 5, 100, 1, 3} {
		start, err := s.ReserveSessids(ctx, n)
		if err != nil {
			t.Fatalf("ReserveSessids(%d): %v", n, err)
		}
		if start != next {
			t.Fatalf("ReserveSessids(%d) = %d, want %d", n, start, next)
		}
		next += n
	}
	if _, err := s.ReserveSessids(ctx, 0); err == nil {
		t.Error("ReserveSessids(0) succeeded, want an error")
	}
	if _, err := s.ReserveSessids(ctx, 1<<63); err == nil {
		t.Error("ReserveSessids(1<<63) succeeded, want an error")
	}
	if start, err := s.ReserveSessids(ctx, 1); err != nil || start != next {
		t.Errorf("after rejected calls ReserveSessids(1) = %d, %v; want %d", start, err, next)
	}
}

func TestReserveSessidsSurviveReopen(t *testing.T) {
	store.EachBackend(t, testReserveSessidsSurviveReopen)
}

func testReserveSessidsSurviveReopen(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	path := db.Location
	var last uint64
	for round := range 3 {
		s, err := store.Open(path, fast)
		if err != nil {
			t.Fatal(err)
		}
		start, err := s.ReserveSessids(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := last + 1; start != want {
			t.Errorf("round %d: start = %d, want %d", round, start, want)
		}
		last = start + 9
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// collect records reserved ids and reports any handed out twice.
type collect struct {
	mu   sync.Mutex
	seen map[uint64]bool
	dups []uint64
}

func (c *collect) add(start, n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = make(map[uint64]bool)
	}
	for id := start; id < start+n; id++ {
		if c.seen[id] {
			c.dups = append(c.dups, id)
		}
		c.seen[id] = true
	}
}

func TestReserveSessidsConcurrent(t *testing.T) { store.EachBackend(t, testReserveSessidsConcurrent) }

func testReserveSessidsConcurrent(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	path := db.Location
	s1 := openAt(t, path)
	s2 := openAt(t, path) // a second instance on the same file, as another process would have

	const goroutines, reservations = 8, 50
	var c collect
	var wg sync.WaitGroup
	errs := make(chan error, 2*goroutines)
	for _, s := range []*store.Store{s1, s2} {
		for g := range goroutines {
			wg.Go(func() {
				n := uint64(g%3 + 1)
				for range reservations {
					start, err := s.ReserveSessids(ctx, n)
					if err != nil {
						errs <- err
						return
					}
					c.add(start, n)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("ReserveSessids: %v", err)
	}
	if len(c.dups) > 0 {
		t.Fatalf("ids handed out twice: %v", c.dups)
	}
	// Every id from 1 to the high-water mark was handed out exactly once.
	total := uint64(0)
	for g := range goroutines {
		total += 2 * reservations * uint64(g%3+1)
	}
	if uint64(len(c.seen)) != total {
		t.Errorf("got %d ids, want %d", len(c.seen), total)
	}
	for id := uint64(1); id <= total; id++ {
		if !c.seen[id] {
			t.Fatalf("id %d never handed out (total %d)", id, total)
		}
	}
	if start, err := s1.ReserveSessids(ctx, 1); err != nil || start != total+1 {
		t.Errorf("next ReserveSessids = %d, %v; want %d", start, err, total+1)
	}
}

// helperEnv names the database a helper process works on.
const helperEnv = "PORTICO_STORE_TEST_HELPER_DB"

// TestHelperProcess is not a test: it is the body of the second process
// that TestCrossProcess starts.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestCrossProcess")
	}
	ctx := testCtx(t)
	s, err := store.Open(path, fast)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	defer s.Close()
	if _, err := s.CreateAccount(ctx, "FromHelper", "password", false); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	for range 100 {
		start, err := s.ReserveSessids(ctx, 2)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(2)
		}
		fmt.Fprintf(out, "sessid %d\n", start)
	}
	out.Flush()
}

// TestCrossProcess runs a second process on the same database while this
// one uses it, as `portico account create` does beside a running host.
func TestCrossProcess(t *testing.T) { store.EachBackend(t, testCrossProcess) }

func testCrossProcess(t *testing.T, db store.TestDB) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the helper process")
	}
	ctx := testCtx(t)
	path := db.Location
	s := openAt(t, path)
	if _, err := s.CreateAccount(ctx, "FromHost", "password", false); err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var c collect
	for range 100 {
		start, err := s.ReserveSessids(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		c.add(start, 2)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	n := 0
	for line := range strings.Lines(stdout.String()) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "sessid ")
		if !ok {
			continue
		}
		start, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("helper output %q: %v", line, err)
		}
		c.add(start, 2)
		n++
	}
	if n != 100 {
		t.Fatalf("helper reported %d reservations, want 100; stdout:\n%s", n, stdout.String())
	}
	if len(c.dups) > 0 {
		t.Fatalf("ids handed out twice across processes: %v", c.dups)
	}
	if len(c.seen) != 400 {
		t.Errorf("got %d distinct ids, want 400", len(c.seen))
	}
	// The account the other process created is visible here, and vice versa.
	if _, err := s.Authenticate(ctx, "fromhelper", "password"); err != nil {
		t.Errorf("account created by the other process: %v", err)
	}
	if _, err := s.CreateAccount(ctx, "FROMHELPER", "password", false); !errors.Is(err, store.ErrNameTaken) {
		t.Errorf("CreateAccount(FROMHELPER) error = %v, want ErrNameTaken", err)
	}
}

func TestConcurrentCreateSameName(t *testing.T) { store.EachBackend(t, testConcurrentCreateSameName) }

func testConcurrentCreateSameName(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	path := db.Location
	stores := []*store.Store{openAt(t, path), openAt(t, path)}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, lost int
		other    []error
	)
	for i := range 8 {
		s := stores[i%2]
		name := []string{"Ivan", "ivan", "IVAN", "iVaN"}[i%4]
		wg.Go(func() {
			_, err := s.CreateAccount(ctx, name, "password", false)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrNameTaken):
				lost++
			default:
				other = append(other, err)
			}
		})
	}
	wg.Wait()
	if len(other) > 0 || ok != 1 || lost != 7 {
		t.Errorf("created %d, name taken %d, other errors %v; want 1, 7, none", ok, lost, other)
	}
	if n, err := stores[1].CountAccounts(ctx); err != nil || n != 1 {
		t.Errorf("CountAccounts = %d, %v; want 1", n, err)
	}
}

func TestReopenIdempotent(t *testing.T) { store.EachBackend(t, testReopenIdempotent) }

func testReopenIdempotent(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	path := db.Location
	s, err := store.Open(path, fast)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := s.CreateAccount(ctx, "Judy", "password", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s, err := store.Open(path, fast)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		got, err := s.Authenticate(ctx, "judy", "password")
		if err != nil || got.ID != acc.ID || !got.IsAdmin {
			t.Errorf("after reopen Authenticate = %+v, %v", got, err)
		}
		if n, err := s.CountAccounts(ctx); err != nil || n != 1 {
			t.Errorf("after reopen CountAccounts = %d, %v; want 1", n, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b")
	path := filepath.Join(dir, "portico.db")
	openAt(t, path)
	for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		// The umask may only remove bits.
		if fi.Mode()&^want != 0 {
			t.Errorf("%s: mode %v, want at most %v", p, fi.Mode(), want)
		}
	}
}

func TestOpenOddPath(t *testing.T) {
	ctx := testCtx(t)
	dir := filepath.Join(t.TempDir(), "we?ird #dir %41 é")
	path := filepath.Join(dir, "my db?.sqlite")
	s := openAt(t, path)
	if _, err := s.CreateAccount(ctx, "Ken", "password", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the path given: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "my db?.sqlite") {
			t.Errorf("unexpected file %q beside the database", e.Name())
		}
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := store.Open("", fast); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	dir := t.TempDir()
	if _, err := store.Open(dir, fast); err == nil {
		t.Error("Open(directory) succeeded")
	}
	bad := store.Options{Argon2: store.Argon2Params{MemoryKiB: 1 << 30}}
	if _, err := store.Open(filepath.Join(dir, "x.db"), bad); err == nil {
		t.Error("Open with absurd argon2 memory succeeded")
	}
	notDB := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(notDB, bytes.Repeat([]byte("not a database "), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := store.Open(notDB, fast); err == nil {
		s.Close()
		t.Error("Open(garbage file) succeeded")
	} else if !strings.HasPrefix(err.Error(), "store: open ") {
		t.Errorf("error %q lacks store: context", err)
	}
}

// TestDefaultParams runs the real OWASP parameters once.
func TestDefaultParams(t *testing.T) { store.EachBackend(t, testDefaultParams) }

func testDefaultParams(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	path := db.Location
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateAccount(ctx, "Liam", "correct horse", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "liam", "correct horse"); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if _, err := s.Authenticate(ctx, "liam", "battery staple"); !errors.Is(err, store.ErrBadCredentials) {
		t.Fatalf("Authenticate(wrong) error = %v, want ErrBadCredentials", err)
	}
	h, err := store.HashPassword("x", store.Argon2Params{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("default hash %q does not carry m=19456,t=2,p=1", h)
	}
}

// TestSessidGrants: a block granted to a plugin is recorded with it in the
// same transaction; a plugin's grants are its own, kept across Close and
// Open, and replaced when it is launched afresh.
func TestSessidGrants(t *testing.T) { store.EachBackend(t, testSessidGrants) }

func testSessidGrants(t *testing.T, db store.TestDB) {
	ctx := context.Background()
	path := db.Location
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := s.GrantSessids(ctx, "a", 100, true)
	b1, _ := s.GrantSessids(ctx, "b", 100, true)
	a2, err := s.GrantSessids(ctx, "a", 100, false)
	if err != nil || a1 != 1 || b1 != 101 || a2 != 201 {
		t.Fatalf("grants a %d, b %d, a %d (%v); want 1, 101, 201", a1, b1, a2, err)
	}
	if _, err := s.GrantSessids(ctx, "", 1, false); err == nil {
		t.Error("a grant to no plugin succeeded")
	}
	s.Close()
	if s, err = store.Open(path, store.Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.SessidGrants(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.SessidRange{{1, 100}, {201, 100}}; !slices.Equal(got, want) {
		t.Fatalf("grants of a = %v, want %v", got, want)
	}
	if _, err := s.GrantSessids(ctx, "a", 100, true); err != nil {
		t.Fatal(err)
	}
	got, _ = s.SessidGrants(ctx, "a")
	if want := []store.SessidRange{{301, 100}}; !slices.Equal(got, want) {
		t.Fatalf("grants of a launched afresh = %v, want %v", got, want)
	}
	got, _ = s.SessidGrants(ctx, "b")
	if want := []store.SessidRange{{101, 100}}; !slices.Equal(got, want) {
		t.Fatalf("grants of b = %v, want %v", got, want)
	}
	r := store.SessidRange{Start: 111, Count: 100}
	if !r.Contains(111) || !r.Contains(210) || r.Contains(110) || r.Contains(211) {
		t.Error("SessidRange.Contains is wrong at its ends")
	}
}

// TestBotConfigKeepsSnowflakes: a bot's config dict comes back from the
// database with a 64-bit id exactly as stored (a Discord channel id), not
// rounded through a float64 (1234567890123456768).
func TestBotConfigKeepsSnowflakes(t *testing.T) {
	store.EachBackend(t, testBotConfigKeepsSnowflakes)
}

func testBotConfigKeepsSnowflakes(t *testing.T, db store.TestDB) {
	ctx := testCtx(t)
	s := openAt(t, db.Location)
	ch, err := s.CreateChannel(ctx, "bridged", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddBot(ctx, "discbot", "discord", ch.ID, map[string]any{"channel_id": int64(1234567890123456789), "token_file": "/run/token"}); err != nil {
		t.Fatal(err)
	}
	check := func(s *store.Store) {
		t.Helper()
		bots, err := s.Bots(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(bots) != 1 {
			t.Fatalf("bots: %+v", bots)
		}
		if got := fmt.Sprint(bots[0].Config["channel_id"]); got != "1234567890123456789" {
			t.Fatalf("channel_id came back as %s (%T)", got, bots[0].Config["channel_id"])
		}
	}
	check(s)
	// A second store on the same database reads it afresh.
	check(openAt(t, db.Location))
}
