package main

import (
	"fmt"
	"strings"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/internal/stats"
)

// idleRSSBar is the bar of idle memory per connection against gnet's at a
// step idleRSSBars does not name.
const idleRSSBar = 2.0

// idleRSSBars are the idle-memory bars of each sockactor server at the
// steps that have one of their own.
var idleRSSBars = map[string]map[string]float64{
	inlineServer: {"1000": 1.75, "10000": 1.50},
	pooledServer: {"1000": 2.00, "10000": 1.75},
}

// The bars of the churn targets against gnet (its close callback stands
// for the subscriber), paired round by round, and the absolute bars of the
// FD_CLOSE latency and of RecvDisconnect under fire.
const (
	closeP50Bar       = 1.5
	closeP99Bar       = 1.3
	churnRateBar      = 0.95
	churnCPUBar       = 1.15
	closeP99MicrosBar = 1000
	banP99MicrosBar   = 10000
)

// churnTargets checks the FD_CLOSE and churn goals: latency and lost
// events against absolute bars, latency, rate and CPU against gnet's.
func churnTargets(run *report.Run) []report.Target {
	var ts []report.Target
	var churn, defaultProcs *report.Scenario
	for _, s := range findKind(run, kindChurn) {
		switch {
		case s.ID == "churn/defaultprocs":
			defaultProcs = s
		case churn == nil:
			churn = s
		}
	}
	rate := 0
	if churn != nil {
		rate = churn.Params["rate"]
	}
	absGoal := fmt.Sprintf("≤ %d µs", closeP99MicrosBar)
	for _, server := range []string{inlineServer, pooledServer} {
		t := report.Target{Name: fmt.Sprintf("%s FD_CLOSE p99 peer close → subscriber at %d closes/s", shortName(server), rate),
			Goal: absGoal, Unit: "µs"}
		if rate != 1000 && churn != nil {
			t.Detail = "the goal is stated at 1000 closes/s; this run paced at a different rate"
		}
		ts = append(ts, judge(t, churn, server, func(r *report.ServerResult) stats.Summary {
			return r.Summary[loadgen.MetricPacedP99]
		}, true, closeP99MicrosBar))
	}
	for _, server := range []string{inlineServer, pooledServer} {
		ts = append(ts, judge(report.Target{Name: shortName(server) + " FD_CLOSE p99 at Go's default GOMAXPROCS, 1000 closes/s", Goal: absGoal, Unit: "µs"},
			defaultProcs, server, func(r *report.ServerResult) stats.Summary { return r.Summary[loadgen.MetricPacedP99] }, true, closeP99MicrosBar))
	}
	for _, server := range []string{inlineServer, pooledServer} {
		ts = append(ts,
			ratioTarget(shortName(server)+" FD_CLOSE p50 vs gnet's close callback, 1000 closes/s", churn, server, loadgen.MetricPacedP50, true, closeP50Bar),
			ratioTarget(shortName(server)+" FD_CLOSE p99 vs gnet's close callback, 1000 closes/s", churn, server, loadgen.MetricPacedP99, true, closeP99Bar),
			ratioTarget(shortName(server)+" churn connect+close/s, unpaced", churn, server, loadgen.MetricMaxRate, false, churnRateBar),
			ratioTarget(shortName(server)+" churn CPU per connection", churn, server, loadgen.MetricCPUPerClose, true, churnCPUBar),
		)
	}
	for _, server := range []string{inlineServer, pooledServer} {
		ts = append(ts, lostEvents(run, server))
	}
	return ts
}

// banTargets checks the receive-ban goals: no byte reaches a handler after
// its RecvDisconnect reply, and the round trip stays short under fire.
func banTargets(run *report.Run) []report.Target {
	var ts []report.Target
	var ban *report.Scenario
	if bs := findKind(run, kindBan); len(bs) > 0 {
		ban = bs[0]
	}
	for _, server := range []string{inlineServer, pooledServer} {
		t := judge(report.Target{Name: shortName(server) + " bytes to the handler after RecvDisconnect", Goal: "= 0 (every round)", Unit: "B"},
			ban, server, func(r *report.ServerResult) stats.Summary { return r.Summary[loadgen.MetricAfterBan] }, true, 0)
		// The median must not hide a bad round.
		if t.Status == report.Met && t.Value.Max > 0 {
			t.Status = report.Missed
		}
		ts = append(ts, t)
	}
	for _, server := range []string{inlineServer, pooledServer} {
		ts = append(ts, judge(report.Target{Name: shortName(server) + " RecvDisconnect p99 under fire", Goal: fmt.Sprintf("≤ %d µs", banP99MicrosBar), Unit: "µs"},
			ban, server, func(r *report.ServerResult) stats.Summary { return r.Summary[loadgen.MetricBanRTTP99] }, true, banP99MicrosBar))
	}
	return ts
}

// idleTargets checks each sockactor server's idle RSS per connection
// against gnet's at every step of the idle scenarios: the step's bar in
// idleRSSBars, else idleRSSBar.
func idleTargets(run *report.Run) []report.Target {
	var ts []report.Target
	for _, idle := range findKind(run, kindIdle) {
		for _, m := range idle.Metrics {
			n, ok := strings.CutPrefix(m.Key, loadgen.MetricRSSPerConnPfx)
			if !ok {
				continue
			}
			for _, server := range []string{inlineServer, pooledServer} {
				bar, ok := idleRSSBars[server][n]
				if !ok {
					bar = idleRSSBar
				}
				ts = append(ts, ratioTarget(fmt.Sprintf("%s idle RSS/conn at %s conns", shortName(server), n),
					idle, server, m.Key, true, bar))
			}
		}
	}
	return ts
}

// lostEvents sums lost FD_CLOSE records of server over every churn and
// fan-out round.
func lostEvents(run *report.Run, server string) report.Target {
	t := report.Target{Name: shortName(server) + " lost FD_CLOSE events (churn and fan-out, all rounds)",
		Goal: "= 0", Unit: "events", Status: report.NotMeasured}
	total, seen := 0.0, false
	for _, s := range append(findKind(run, kindChurn), findKind(run, kindFanout)...) {
		r := s.Result(server)
		if r == nil {
			continue
		}
		for _, m := range r.Rounds {
			if v, ok := m[loadgen.MetricLost]; ok {
				total += v
				seen = true
			}
		}
	}
	if !seen {
		t.Detail = "no churn or fan-out figures for " + server
		return t
	}
	t.Value = stats.Summary{N: 1, Median: total, Min: total, Max: total}
	t.Status = report.Missed
	if total == 0 {
		t.Status = report.Met
	}
	return t
}

// banCheckNote reports the cost of the receive-ban check on the read path.
// sockactor cannot be built without the check, so the honest figure is an
// upper bound: all of sockactor-inline's CPU per message over raw gnet's,
// called "within noise" only when the paired ratios' min–max spread
// includes 1.
func banCheckNote(run *report.Run) string {
	var parts []string
	noise := true
	measured := false
	for _, conns := range []int{64, 1000} {
		s := findEcho(run, conns, 64, 1)
		if s == nil {
			continue
		}
		r := s.Result(inlineServer)
		if r == nil {
			continue
		}
		sum, ok := r.Ratio[loadgen.MetricCPUPerMsg]
		if !ok || !sum.Valid() {
			continue
		}
		measured = true
		// A cost shows as a ratio above 1 with the whole range above it;
		// a range at or below 1 means no measurable cost.
		if sum.Min > 1 {
			noise = false
		}
		parts = append(parts, fmt.Sprintf("%d conns %+.1f%% [%+.1f%%, %+.1f%%]", conns,
			pct(sum.Median), pct(sum.Min), pct(sum.Max)))
	}
	if !measured {
		return ""
	}
	if noise {
		return "ban check cost: within noise or none (inline CPU/msg vs gnet, which has no check: " + strings.Join(parts, "; ") + ")"
	}
	return "ban check cost: at most the whole inline overhead over raw gnet, which is outside the noise: " +
		strings.Join(parts, "; ") + " CPU/msg (an upper bound: it includes every other cost of the actor layer)"
}
