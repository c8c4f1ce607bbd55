package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// msgMayNotHaveRun is sdk.MsgMayNotHaveRun, spelled out: the test reads
// what a player sees.
const msgMayNotHaveRun = "Your last command may not have run."

// typist types numbered lines (`say T<i>-<n>`) until stopped, and counts
// what it sent at each moment the test marks.
type typist struct {
	c    *telnetClient
	name string
	tag  string
	// every is the pause between lines.
	every time.Duration
	// line makes the n-th line.
	line func(n int) string

	mu   sync.Mutex
	sent int
	err  error
}

func (ty *typist) run(stop <-chan struct{}, done *sync.WaitGroup) {
	defer done.Done()
	tick := time.NewTicker(ty.every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		ty.mu.Lock()
		n := ty.sent + 1
		ty.mu.Unlock()
		if err := ty.c.write(ty.line(n)); err != nil {
			ty.mu.Lock()
			ty.err = err
			ty.mu.Unlock()
			return
		}
		ty.mu.Lock()
		ty.sent = n
		ty.mu.Unlock()
	}
}

func (ty *typist) count() int {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	return ty.sent
}

// numbers returns the numbers of the lines re matches in out, in order.
func numbers(re *regexp.Regexp, out string) []int {
	var ns []int
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		ns = append(ns, n)
	}
	return ns
}

// TestHostKilledUnderTypingLoad: the host is killed (SIGKILL) three times
// while four players type numbered lines far faster than people type
// (`say`, every 2 ms each) and a fifth creates accounts (every 15 ms), and
// `portico start` follows each kill within the grace. No line is lost
// that the host never handled: every line either had its effect (the
// player saw "You say", in the order typed, and so did the others), or its
// player was told "Your last command may not have run." — a line the dead
// host had received but not finished is not sent again. Nothing runs
// twice: no line is said twice, no account is created twice (a second run
// would answer that the name is taken).
func TestHostKilledUnderTypingLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the host three times under load (about 30 s)")
	}
	h := startHostWith(t, hostOptions{limits: testLimits + "  command_rate: 0\n"})
	const players = 4
	var typists []*typist
	for i := range players {
		c := dialTelnet(t, h.telnetAddr)
		name := fmt.Sprintf("Typist%d", i)
		c.login(name, "typistpass", true)
		tag := fmt.Sprintf("T%d", i)
		typists = append(typists, &typist{c: c, name: name, tag: tag, every: 2 * time.Millisecond,
			line: func(n int) string { return fmt.Sprintf("say %s-%d", tag, n) }})
	}
	maker := dialTelnet(t, h.telnetAddr)
	maker.expect("Welcome to TestGame")
	creator := &typist{c: maker, name: "maker", every: 15 * time.Millisecond,
		line: func(n int) string { return fmt.Sprintf("create mk%d makerpass", n) }}
	all := append(append([]*typist(nil), typists...), creator)

	stop := make(chan struct{})
	var typing sync.WaitGroup
	for _, ty := range all {
		typing.Add(1)
		go ty.run(stop, &typing)
	}
	stopped := false
	stopTyping := func() {
		if !stopped {
			stopped = true
			close(stop)
			typing.Wait()
		}
	}
	defer stopTyping()

	for kill := range 3 {
		// The load's phases are lengths of time, not waits for an event:
		// 400 ms of typing against a live host, 200 ms against none.
		time.Sleep(400 * time.Millisecond)
		if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-h.exited
		time.Sleep(200 * time.Millisecond)
		h.start()
		h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
		t.Logf("kill %d: lines sent so far %d", kill+1, typists[0].count())
	}
	time.Sleep(400 * time.Millisecond)
	stopTyping()
	for _, ty := range all {
		if ty.err != nil {
			t.Fatalf("%s: %v", ty.name, ty.err)
		}
	}

	// The last line of each was typed against a live host after the last
	// restart: once it has had its effect, everything before it has
	// (input runs in order).
	for _, ty := range typists {
		ty.c.expectSeen(fmt.Sprintf(`You say, "%s-%d"`, ty.tag, ty.sent))
	}
	maker.expectSeen(fmt.Sprintf("A new account 'mk%d' was created.", creator.sent))

	for _, ty := range typists {
		out := ty.c.Since(0)
		said := numbers(regexp.MustCompile(`You say, "`+ty.tag+`-(\d+)"`), out)
		checkTyped(t, ty.name, said, ty.sent, strings.Contains(out, msgMayNotHaveRun))
		for _, other := range typists {
			if other == ty {
				continue
			}
			heard := numbers(regexp.MustCompile(ty.name+` says, "`+ty.tag+`-(\d+)"`), other.c.Since(0))
			for i := 1; i < len(heard); i++ {
				if heard[i] <= heard[i-1] {
					t.Errorf("%s heard %s's line %d after %d: a line ran twice or out of order", other.name, ty.name,
						heard[i], heard[i-1])
				}
			}
		}
	}
	out := maker.Since(0)
	created := numbers(regexp.MustCompile(`A new account 'mk(\d+)' was created`), out)
	checkTyped(t, "maker", created, creator.sent, strings.Contains(out, msgMayNotHaveRun))
	if taken := regexp.MustCompile(`already an account with the name 'mk\d+'`).FindAllString(out, -1); len(taken) > 0 {
		t.Errorf("creations ran twice: %q", taken)
	}
}

// checkTyped checks what one client saw of its own numbered lines: each
// at most once and in order, and the ones without their effect only if
// the client was told its last command may not have run.
func checkTyped(t *testing.T, who string, seen []int, sent int, told bool) {
	t.Helper()
	got := map[int]bool{}
	for i, n := range seen {
		if got[n] {
			t.Errorf("%s: line %d ran twice", who, n)
		}
		got[n] = true
		if i > 0 && n < seen[i-1] {
			t.Errorf("%s: line %d ran after line %d", who, n, seen[i-1])
		}
	}
	var missing []int
	for n := 1; n <= sent; n++ {
		if !got[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 && !told {
		t.Errorf("%s: %d of %d lines lost without a word: %v", who, len(missing), sent, missing)
	}
	t.Logf("%s: %d lines, %d without effect %v (told: %v)", who, sent, len(missing), missing, told)
}
