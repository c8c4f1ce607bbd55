package leakcheck

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// fakeM stands for a package's tests: run is what they do.
type fakeM struct{ run func() int }

func (f fakeM) Run() int { return f.run() }

// mainCode runs Main over run and returns the exit code it would exit with.
func mainCode(t *testing.T, run func() int) int {
	t.Helper()
	code := -1
	Main(fakeM{run}, goleak.Cleanup(func(c int) { code = c }))
	return code
}

func TestMainReportsLeaks(t *testing.T) {
	old := settle
	settle = 200 * time.Millisecond
	t.Cleanup(func() { settle = old })

	cases := []struct {
		name string
		run  func(stop <-chan struct{}) int
		want int
	}{
		{"clean run passes", func(<-chan struct{}) int { return 0 }, 0},
		{"failing run keeps its status", func(<-chan struct{}) int { return 3 }, 3},
		{"goroutine that never ends fails the run", func(stop <-chan struct{}) int {
			go func() { <-stop }()
			return 0
		}, 1},
		{"goroutine that ends within the settle time passes", func(<-chan struct{}) int {
			go func() { time.Sleep(50 * time.Millisecond) }()
			return 0
		}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stop := make(chan struct{})
			defer close(stop) // ends the deliberate leak
			if got := mainCode(t, func() int { return c.run(stop) }); got != c.want {
				t.Errorf("exit code %d, want %d", got, c.want)
			}
		})
	}
}
