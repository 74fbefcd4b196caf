package loadgen

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockactor/sockactor/bench/internal/stats"
)

// roundTrips is the state every round-trip run shares (echo over TCP, unix
// and UDP, resp, http): its phase, the clock its latencies are read on,
// the histogram of the round trips measured, and the first I/O errors of
// its connections. A run embeds it beside its own counters.
type roundTrips struct {
	phase atomic.Int32
	base  time.Time
	hist  stats.Histogram
	// unit names a connection in an error: "conn" or "peer".
	unit   string
	mu     sync.Mutex
	ioErrs []string
	// answered counts the round trips completed in any phase (warm-up,
	// window, the last one after it), added as each connection ends.
	answered atomic.Int64
}

// emptyWindow records that no round trip (of what: "message was echoed")
// fell in the measured window w, with how many were completed over the
// whole run: some tell a machine too slow for the window, none a server
// that answered nothing. Called after every connection has ended.
func (r *roundTrips) emptyWindow(res *Result, what string, w window) {
	res.errorf("no %s in the measured window (%v; %d over the whole run, warm-up included)",
		what, w.t1.Sub(w.t0).Round(time.Millisecond), r.answered.Load())
}

// ioError records the error of connection i; the first ten are reported.
// Once the run stops, deadlines and closes are its own doing, not errors.
func (r *roundTrips) ioError(i int, err error) {
	if r.phase.Load() == phaseStop {
		return
	}
	r.mu.Lock()
	if len(r.ioErrs) < 10 {
		r.ioErrs = append(r.ioErrs, fmt.Sprintf("%s %d: %v", r.unit, i, err))
	}
	r.mu.Unlock()
}

// reportErrors adds the recorded I/O errors to res.
func (r *roundTrips) reportErrors(res *Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.ioErrs {
		res.errorf("%s", s)
	}
}
