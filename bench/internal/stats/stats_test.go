package stats

import (
	"math"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i) // 100..1, unsorted on purpose
	}
	tests := []struct {
		name string
		xs   []float64
		p    float64
		want float64
		ok   bool
	}{
		{"empty", nil, 50, 0, false},
		{"p zero", []float64{1}, 0, 0, false},
		{"p above 100", []float64{1}, 101, 0, false},
		{"single", []float64{7}, 99, 7, true},
		{"median of 100", hundred, 50, 50, true},
		{"p99 of 100", hundred, 99, 99, true},
		{"p99.9 of 100", hundred, 99.9, 100, true},
		{"p100 of 100", hundred, 100, 100, true},
		{"p1 of 100", hundred, 1, 1, true},
		{"nearest rank rounds up", []float64{1, 2, 3, 4}, 50, 2, true},
		{"nearest rank p51", []float64{1, 2, 3, 4}, 51, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Percentile(tt.xs, tt.p)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("Percentile(%v) = %v, %v; want %v, %v", tt.p, got, ok, tt.want, tt.ok)
			}
		})
	}
	if hundred[0] != 100 {
		t.Fatal("Percentile modified its input")
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", []float64{3}, Summary{N: 1, Median: 3, Min: 3, Max: 3}},
		{"odd", []float64{5, 1, 3}, Summary{N: 3, Median: 3, Min: 1, Max: 5}},
		{"even", []float64{4, 1, 3, 2}, Summary{N: 4, Median: 2.5, Min: 1, Max: 4}},
		{"ignores NaN and Inf", []float64{math.NaN(), 2, math.Inf(1), 4}, Summary{N: 2, Median: 3, Min: 2, Max: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.xs); got != tt.want {
				t.Fatalf("Summarize = %+v, want %+v", got, tt.want)
			}
			if got := Summarize(tt.xs); got.Valid() != (tt.want.N > 0) {
				t.Fatalf("Valid = %v", got.Valid())
			}
		})
	}
}

func TestPairedRatios(t *testing.T) {
	tests := []struct {
		name     string
		num, den map[int]float64
		want     []float64
	}{
		{"empty", nil, nil, []float64{}},
		{"pairs by round not position", map[int]float64{0: 10, 1: 30, 2: 20}, map[int]float64{2: 10, 0: 5, 1: 10}, []float64{2, 3, 2}},
		{"missing rounds skipped", map[int]float64{0: 10, 2: 9}, map[int]float64{0: 10, 1: 4, 2: 3}, []float64{1, 3}},
		{"zero denominator skipped", map[int]float64{0: 1, 1: 2}, map[int]float64{0: 0, 1: 4}, []float64{0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PairedRatios(tt.num, tt.den)
			if len(got) != len(tt.want) {
				t.Fatalf("PairedRatios = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("PairedRatios = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestHistogramBuckets(t *testing.T) {
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 129, 1000, 123456789, math.MaxInt64} {
		i := bucketOf(v)
		if i < 0 || i >= nBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, i)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("value %d not in its bucket %d [%d, %d]", v, i, lo, hi)
		}
		if lo >= 64 && float64(hi-lo+1)/float64(lo) > 1.0/64+1e-12 {
			t.Fatalf("bucket %d [%d,%d] wider than 1/64 of its bound", i, lo, hi)
		}
	}
}

func TestHistogramPercentile(t *testing.T) {
	tests := []struct {
		name   string
		values []int64
		p      float64
		want   int64
		relErr float64
	}{
		{"exact small values", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 50, 5, 0},
		{"max is exact", []int64{1, 2, 3, 1000000}, 100, 1000000, 0},
		{"negative recorded as zero", []int64{-5, -5, 9}, 50, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tt.values {
				h.Record(v)
			}
			got, ok := h.Percentile(tt.p)
			if !ok || math.Abs(float64(got-tt.want)) > tt.relErr*float64(tt.want) {
				t.Fatalf("Percentile(%v) = %d, %v; want %d", tt.p, got, ok, tt.want)
			}
		})
	}

	// A large uniform sample: every percentile within the 1/64 bound.
	var h Histogram
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := int64(w + 1); v <= 100000; v += 4 {
				h.Record(v * 1000)
			}
		}()
	}
	wg.Wait()
	if h.Count() != 100000 {
		t.Fatalf("Count = %d", h.Count())
	}
	for _, p := range []float64{50, 90, 99, 99.9} {
		got, _ := h.Percentile(p)
		want := p / 100 * 100000 * 1000
		if math.Abs(float64(got)-want)/want > 1.0/64 {
			t.Fatalf("p%v = %d, want about %.0f", p, got, want)
		}
	}
	if _, ok := (&Histogram{}).Percentile(50); ok {
		t.Fatal("empty histogram reported a percentile")
	}

	var merged Histogram
	merged.Merge(&h)
	merged.Merge(&h)
	if merged.Count() != 200000 || merged.Max() != h.Max() {
		t.Fatalf("Merge: count %d max %d", merged.Count(), merged.Max())
	}
}
