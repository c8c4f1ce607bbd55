package sdk

import (
	"testing"
	"time"
)

// TestRefusalLimiter: three refusals are told at once, then one a second;
// a quiet client has its burst back.
func TestRefusalLimiter(t *testing.T) {
	var l RefusalLimiter
	now := time.Unix(1000, 0)
	told := 0
	for range 15000 {
		if l.Allow(now) {
			told++
		}
		now = now.Add(50 * time.Microsecond) // 15,000 lines in 0.75 s
	}
	if told != 3 {
		t.Fatalf("told %d of 15,000 refusals within a second, want 3", told)
	}
	now = now.Add(time.Second)
	if !l.Allow(now) || l.Allow(now) {
		t.Fatal("a second later: want exactly one more")
	}
	now = now.Add(10 * time.Second)
	for i := range 3 {
		if !l.Allow(now) {
			t.Fatalf("after a quiet while, refusal %d not told", i+1)
		}
	}
	if l.Allow(now) {
		t.Fatal("the burst is three")
	}
}
