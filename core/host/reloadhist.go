package host

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// envReloadDurations carries portico_reload_duration_seconds across a
// re-execution (its bucket counts and sum), so that the histogram counts
// every reload of the process, as portico_reloads_total does.
const envReloadDurations = "PORTICO_RELOAD_DURATIONS"

// reloadBuckets fit reloads: a quick one hands over in a few tens of
// milliseconds, a slow one (many plugins, a loaded machine) in seconds.
var reloadBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

var descReloadDuration = prometheus.NewDesc("portico_reload_duration_seconds",
	"How long reloads took, from the start of each to the new image running its plugins.", nil, nil)

// reloadHistogram is portico_reload_duration_seconds: a histogram kept by
// hand rather than a prometheus.Histogram, so that the counts of the
// images before this one can be carried in (envReloadDurations).
type reloadHistogram struct {
	mu sync.Mutex
	// counts holds each bucket's observations (not cumulative), and one
	// more for those above every bucket.
	counts []uint64
	sum    float64
}

// newReloadHistogram starts from the counts an earlier image encoded (""
// or a value that does not parse: none).
func newReloadHistogram(encoded string) *reloadHistogram {
	h := &reloadHistogram{counts: make([]uint64, len(reloadBuckets)+1)}
	counts, sum, ok := strings.Cut(encoded, ";")
	if !ok {
		return h
	}
	fields := strings.Split(counts, ",")
	s, err := strconv.ParseFloat(sum, 64)
	if len(fields) != len(h.counts) || err != nil || s < 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return h
	}
	parsed := make([]uint64, len(fields))
	for i, f := range fields {
		if parsed[i], err = strconv.ParseUint(f, 10, 64); err != nil {
			return h
		}
	}
	h.counts, h.sum = parsed, s
	return h
}

// observe counts a reload that took seconds.
func (h *reloadHistogram) observe(seconds float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := len(reloadBuckets)
	for j, b := range reloadBuckets {
		if seconds <= b {
			i = j
			break
		}
	}
	h.counts[i]++
	h.sum += seconds
}

// encode returns the counts for the next image (newReloadHistogram).
func (h *reloadHistogram) encode() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	fields := make([]string, len(h.counts))
	for i, c := range h.counts {
		fields[i] = strconv.FormatUint(c, 10)
	}
	return fmt.Sprintf("%s;%s", strings.Join(fields, ","), strconv.FormatFloat(h.sum, 'g', -1, 64))
}

// Describe sends the histogram's description.
func (h *reloadHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- descReloadDuration }

// Collect sends the histogram.
func (h *reloadHistogram) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	defer h.mu.Unlock()
	buckets := make(map[float64]uint64, len(reloadBuckets))
	var n uint64
	for i, b := range reloadBuckets {
		n += h.counts[i]
		buckets[b] = n
	}
	n += h.counts[len(reloadBuckets)]
	ch <- prometheus.MustNewConstHistogram(descReloadDuration, n, h.sum, buckets)
}
