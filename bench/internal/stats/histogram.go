package stats

import (
	"math/bits"
	"sync/atomic"
)

const (
	// subBits is the number of linear sub-buckets per power of two, as a
	// power of two: 64 sub-buckets bound the relative error to 1/64.
	subBits    = 6
	subBuckets = 1 << subBits
	// nBuckets covers every non-negative int64: the exact range [0, 64)
	// plus 58 octaves of 64 sub-buckets.
	nBuckets = subBuckets + (63-subBits+1)*subBuckets
)

// Histogram is a log-linear histogram of non-negative integer values
// (nanoseconds, in the bench). Values below 64 are counted exactly; larger
// values fall in buckets no wider than 1/64 of their lower bound, so a
// percentile read from it is within about 1.6 % of the true sample.
//
// Record is safe for concurrent use and lock-free. The zero value is ready
// to use. A Histogram must not be copied after first use.
type Histogram struct {
	counts [nBuckets]atomic.Uint64
	total  atomic.Uint64
	max    atomic.Int64
}

// bucketOf returns the bucket index of v (v >= 0).
func bucketOf(v int64) int {
	u := uint64(v)
	if u < subBuckets {
		return int(u)
	}
	shift := bits.Len64(u) - subBits - 1
	return subBuckets + shift*subBuckets + int(u>>uint(shift)) - subBuckets
}

// bucketRange returns the smallest and largest value that fall in bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < subBuckets {
		return int64(i), int64(i)
	}
	shift := (i - subBuckets) / subBuckets
	sub := (i - subBuckets) % subBuckets
	lo = int64(subBuckets+sub) << uint(shift)
	hi = lo + (int64(1) << uint(shift)) - 1
	return lo, hi
}

// Record adds one value. Negative values are recorded as zero.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max returns the largest recorded value (zero when empty).
func (h *Histogram) Max() int64 { return h.max.Load() }

// Merge adds every count of o into h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.total.Add(o.total.Load())
	for {
		m, om := h.max.Load(), o.max.Load()
		if om <= m || h.max.CompareAndSwap(m, om) {
			return
		}
	}
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of the
// recorded values, as the midpoint of the bucket that holds it (capped at
// the largest recorded value). The second result is false when nothing was
// recorded or p is out of range.
func (h *Histogram) Percentile(p float64) (int64, bool) {
	total := h.total.Load()
	if total == 0 || !(p > 0 && p <= 100) {
		return 0, false
	}
	rank := uint64(p / 100 * float64(total))
	if float64(rank) < p/100*float64(total) {
		rank++
	}
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		if cum >= rank {
			lo, hi := bucketRange(i)
			mid := lo + (hi-lo)/2
			if m := h.max.Load(); mid > m {
				mid = m
			}
			return mid, true
		}
	}
	return h.max.Load(), true
}
