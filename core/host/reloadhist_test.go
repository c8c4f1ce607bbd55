package host

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestReloadHistogramCarried: the reload histogram goes on across
// re-executions from what the image before encoded, and starts empty from
// nothing or from a value that does not parse.
func TestReloadHistogramCarried(t *testing.T) {
	h := newReloadHistogram("")
	h.observe(0.03)
	h.observe(0.7)
	next := newReloadHistogram(h.encode())
	next.observe(45)
	m := collectOne(t, next)
	if m.GetSampleCount() != 3 || m.GetSampleSum() != 45.73 {
		t.Errorf("count %d, sum %v; want 3, 45.73", m.GetSampleCount(), m.GetSampleSum())
	}
	want := map[float64]uint64{0.05: 1, 0.1: 1, 0.5: 1, 1: 2, 30: 2}
	for _, b := range m.GetBucket() {
		if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
		}
	}
	for _, bad := range []string{"1,2;3", "x;1", "1,1,1,1,1,1,1,1,1,1;-1", "1,1,1,1,1,1,1,1,1,a;1", "0,0,0,0,0,0,0,0,0,0;NaN"} {
		if m := collectOne(t, newReloadHistogram(bad)); m.GetSampleCount() != 0 {
			t.Errorf("from %q: %d reloads, want none", bad, m.GetSampleCount())
		}
	}
}

func collectOne(t *testing.T, h *reloadHistogram) *dto.Histogram {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	h.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram()
}
