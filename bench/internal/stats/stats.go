// Package stats holds the small amount of statistics the bench harness
// needs: nearest-rank percentiles, median/min/max summaries, ratios paired
// round by round, and a concurrent log-linear latency histogram.
//
// Everything here is deterministic and allocation-light so the load
// generator can use it on its hot path.
package stats

import (
	"math"
	"slices"
	"sort"
)

// Percentile returns the p-th percentile (0 < p <= 100) of xs using the
// nearest-rank method: the smallest sample such that at least p percent of
// the samples are less than or equal to it. xs is not modified. The second
// result is false when xs is empty or p is out of range.
func Percentile(xs []float64, p float64) (float64, bool) {
	if len(xs) == 0 || !(p > 0 && p <= 100) {
		return 0, false
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	return PercentileSorted(s, p)
}

// PercentileSorted is Percentile for a slice already sorted in ascending
// order; it does not copy.
func PercentileSorted(sorted []float64, p float64) (float64, bool) {
	n := len(sorted)
	if n == 0 || !(p > 0 && p <= 100) {
		return 0, false
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1], true
}

// Summary is the median, minimum and maximum of a set of samples. It is how
// every per-round figure of the bench is reported.
type Summary struct {
	// N is the number of samples summarised; the other fields are zero when
	// N is zero.
	N int `json:"n"`
	// Median is the middle sample (the mean of the two middle samples when N
	// is even).
	Median float64 `json:"median"`
	// Min is the smallest sample.
	Min float64 `json:"min"`
	// Max is the largest sample.
	Max float64 `json:"max"`
}

// Valid reports whether the summary holds at least one sample.
func (s Summary) Valid() bool { return s.N > 0 }

// Summarize returns the median, minimum and maximum of xs. NaN and infinite
// samples are ignored.
func Summarize(xs []float64) Summary {
	s := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return Summary{}
	}
	sort.Float64s(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Summary{N: n, Median: med, Min: s[0], Max: s[n-1]}
}

// PairedRatios divides each round's figure in num by the same round's figure
// in den, so that drift of the machine between rounds cancels out. Rounds
// missing from either side, and rounds whose denominator is zero, are
// skipped. The ratios are returned in ascending round order.
func PairedRatios(num, den map[int]float64) []float64 {
	rounds := make([]int, 0, len(num))
	for r := range num {
		if _, ok := den[r]; ok {
			rounds = append(rounds, r)
		}
	}
	sort.Ints(rounds)
	out := make([]float64, 0, len(rounds))
	for _, r := range rounds {
		d := den[r]
		if d == 0 || math.IsNaN(d) || math.IsNaN(num[r]) {
			continue
		}
		out = append(out, num[r]/d)
	}
	return out
}
