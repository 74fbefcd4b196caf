// Package loadgen is the load generator of the bench. It runs in its own
// process (the bench binary's loadgen role) so that it never shares a Go
// scheduler with the server it measures, and reports one Result, printed by
// the role as a single JSON line.
//
// Every loop here is bounded both in count and in time, and every scenario
// stops by itself.
package loadgen

import (
	"fmt"
	"time"
)

// Result is what one load-generator run reports.
type Result struct {
	// Scenario is the scenario that ran: echo, idle, churn or ban.
	Scenario string `json:"scenario"`
	// Metrics holds the figures, keyed by the Metric* constants.
	Metrics map[string]float64 `json:"metrics"`
	// Notes are remarks worth showing next to the figures.
	Notes []string `json:"notes,omitempty"`
	// Errors are problems that make the figures suspect (mismatched echo
	// bytes, failed dials, lost events).
	Errors []string `json:"errors,omitempty"`
}

func newResult(scenario string) Result {
	return Result{Scenario: scenario, Metrics: map[string]float64{}}
}

func (r *Result) errorf(format string, args ...any) {
	if len(r.Errors) < 20 {
		r.Errors = append(r.Errors, fmt.Sprintf(format, args...))
	}
}

func (r *Result) notef(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// Metric keys reported by the scenarios.
const (
	// Echo.
	MetricMsgs        = "msgs"           // messages echoed in the measured window
	MetricMsgsPerSec  = "msgs_per_s"     // messages echoed per second
	MetricMBPerSec    = "mb_per_s"       // payload megabytes (10^6) echoed per second, one direction
	MetricP50Micros   = "p50_us"         // round-trip latency percentiles, microseconds
	MetricP99Micros   = "p99_us"         //
	MetricP999Micros  = "p999_us"        //
	MetricCPUPerMsg   = "cpu_us_per_msg" // server CPU time (user + kernel) per echoed message, microseconds
	MetricServerCores = "server_cores"   // server CPU time / wall time in the window
	MetricMismatches  = "mismatches"     // echoed messages whose bytes differed
	MetricConns       = "conns"          // connections actually open

	// Idle memory: keys are suffixed with the connection count, e.g.
	// rss_per_conn_1000.
	MetricRSSBase        = "rss_base_mb"   // server RSS before any connection, MiB
	MetricRSSPerConnPfx  = "rss_per_conn_" // server RSS delta per connection, bytes
	MetricRSSTotalPrefix = "rss_mb_"       // server RSS with that many connections, MiB

	// Churn and fan-out.
	MetricPacedRate    = "paced_rate"        // achieved connect+close per second in the paced phase
	MetricPacedP50     = "paced_p50_us"      // peer close -> subscriber latency in the paced phase
	MetricPacedP99     = "paced_p99_us"      //
	MetricPacedMax     = "paced_max_us"      //
	MetricPacedEmitP99 = "paced_emit_p99_us" // peer close -> server emitted FD_CLOSE (event time stamp), p99
	MetricMaxRate      = "max_rate"          // connect+close per second, unpaced
	MetricMaxP50       = "max_p50_us"        // latency in the unpaced phase
	MetricMaxP99       = "max_p99_us"        //
	MetricLost         = "lost"              // closes with no record within the match timeout
	MetricUnmatched    = "unmatched"         // records that matched no close of ours (duplicates)
	MetricDialErrors   = "dial_errors"       // failed connects
	MetricCPUPerClose  = "cpu_us_per_conn"   // server CPU per connect+close in the unpaced phase

	// Receive ban.
	MetricBanRTTP50    = "ban_rtt_p50_us"   // RecvDisconnect round trip
	MetricBanRTTP99    = "ban_rtt_p99_us"   //
	MetricBanRTTMax    = "ban_rtt_max_us"   //
	MetricBanned       = "banned"           // sockets banned
	MetricBanErrors    = "ban_errors"       // failed RecvDisconnect calls
	MetricAfterBan     = "after_ban_bytes"  // bytes handed to the handler after the ban reply: must be 0
	MetricDuringBan    = "during_ban_bytes" // bytes the handler saw while the request was in flight
	MetricSentAfter    = "sent_after_mb"    // MB the clients kept streaming after the ban
	MetricSentTotal    = "sent_total_mb"    // MB the clients wrote in all
	MetricHandlerBytes = "handler_bytes"    // bytes the server's handler received in all
	MetricBannedBytes  = "banned_bytes"     // the runtime's discarded-bytes counter (-1 unknown)
)

// micros converts nanoseconds to microseconds.
func micros(ns int64) float64 { return float64(ns) / 1e3 }

// sleepCtx sleeps for d or until done is closed; it reports whether the
// full duration elapsed.
func sleepCtx(done <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
