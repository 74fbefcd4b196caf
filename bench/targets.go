package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/internal/stats"
)

// Server names the targets talk about.
const (
	inlineServer = "sockactor-inline"
	pooledServer = "sockactor-pooled"
	naiveServer  = "naive"
	stdlibServer = "stdlib"
)

// The bars of the TCP echo targets: each sockactor server's figure against
// raw gnet's (or naive's), paired round by round, in the 64 B
// request/response cases at 64 and 1000 connections. Beating naive "by a
// wide margin" is the inline bar; pooled pays two goroutine hand-offs per
// message that inline does not, and has a bar of its own.
const (
	inlineEchoCPUBar  = 1.15
	inlineEchoRateBar = 0.90
	inlineEchoP99Bar  = 1.2
	pooledEchoCPUBar  = 1.30
	inlineNaiveBar    = 0.67
	pooledNaiveBar    = 0.80
)

// findEcho returns the echo scenario with the given parameters, or nil.
func findEcho(run *report.Run, conns, payload, window int) *report.Scenario {
	for i := range run.Scenarios {
		s := &run.Scenarios[i]
		if s.Kind == kindEcho && s.Params["conns"] == conns && s.Params["payload"] == payload && s.Params["window"] == window {
			return s
		}
	}
	return nil
}

// findKind returns the scenarios of a kind.
func findKind(run *report.Run, kind string) []*report.Scenario {
	var out []*report.Scenario
	for i := range run.Scenarios {
		if run.Scenarios[i].Kind == kind {
			out = append(out, &run.Scenarios[i])
		}
	}
	return out
}

// ratioTarget checks server's ratio to gnet on metric key of scenario s.
func ratioTarget(name string, s *report.Scenario, server, key string, atMost bool, limit float64) report.Target {
	t := report.Target{Name: name, Unit: "× gnet"}
	if atMost {
		t.Goal = fmt.Sprintf("≤ %.2f× gnet", limit)
	} else {
		t.Goal = fmt.Sprintf("≥ %.2f× gnet", limit)
	}
	return judge(t, s, server, func(r *report.ServerResult) stats.Summary { return r.Ratio[key] }, atMost, limit)
}

// scenarioNotRun is the detail of a target whose scenario did not run.
const scenarioNotRun = "scenario not in this run"

// runWith adds to the detail of each target in ts whose scenario did not
// run the flags that run it.
func runWith(ts []report.Target, flags string) []report.Target {
	for i := range ts {
		if ts[i].Detail == scenarioNotRun {
			ts[i].Detail += " (" + flags + ")"
		}
	}
	return ts
}

// judge fills t's value from the server's result in s and compares its
// median with limit.
func judge(t report.Target, s *report.Scenario, server string, value func(*report.ServerResult) stats.Summary, atMost bool, limit float64) report.Target {
	t.Status = report.NotMeasured
	if s == nil {
		t.Detail = scenarioNotRun
		return t
	}
	r := s.Result(server)
	if r == nil {
		t.Detail = server + " not in this run"
		return t
	}
	if r.Unavailable != "" {
		t.Detail = server + " unavailable: " + r.Unavailable
		return t
	}
	t.Value = value(r)
	if !t.Value.Valid() {
		t.Detail = "no figure (see the scenario's errors)"
		return t
	}
	ok := t.Value.Median <= limit
	if !atMost {
		ok = t.Value.Median >= limit
	}
	t.Status = report.Missed
	if ok {
		t.Status = report.Met
	}
	return t
}

// evaluateTargets checks the project's goals against the run: one target
// per figure, each with its single bar.
func evaluateTargets(run *report.Run) []report.Target {
	var ts []report.Target
	for _, conns := range []int{64, 1000} {
		s := findEcho(run, conns, 64, 1)
		ts = append(ts,
			ratioTarget(fmt.Sprintf("inline echo CPU/msg, %d conns 64 B", conns), s, inlineServer, loadgen.MetricCPUPerMsg, true, inlineEchoCPUBar),
			ratioTarget(fmt.Sprintf("inline echo msgs/s, %d conns 64 B", conns), s, inlineServer, loadgen.MetricMsgsPerSec, false, inlineEchoRateBar),
			ratioTarget(fmt.Sprintf("inline echo p99, %d conns 64 B", conns), s, inlineServer, loadgen.MetricP99Micros, true, inlineEchoP99Bar),
		)
	}
	for _, conns := range []int{64, 1000} {
		ts = append(ts, ratioTarget(fmt.Sprintf("pooled echo CPU/msg, %d conns 64 B", conns),
			findEcho(run, conns, 64, 1), pooledServer, loadgen.MetricCPUPerMsg, true, pooledEchoCPUBar))
	}
	ts = append(ts, beatsNaive(run, inlineServer, inlineNaiveBar), beatsNaive(run, pooledServer, pooledNaiveBar))
	ts = append(ts, idleTargets(run)...)
	ts = append(ts, transportTargets(run)...)
	ts = append(ts, churnTargets(run)...)
	ts = append(ts, banTargets(run)...)
	ts = append(ts, runWith(hostileTargets(run), "-scenarios hostile, or -suite full")...)
	ts = append(ts, runWith(backpressureTargets(run), "-scenarios backpressure, or -suite full")...)
	ts = append(ts, protocolTargets(run)...)
	ts = append(ts, tlsTargets(run)...)
	return append(ts, fleetTargets(run)...)
}

// shortName drops the "sockactor-" prefix.
func shortName(server string) string { return strings.TrimPrefix(server, "sockactor-") }

// beatsNaive checks that server's CPU per message is at most margin times
// naive's, in every 64 B request/response echo case (worst case reported).
func beatsNaive(run *report.Run, server string, margin float64) report.Target {
	t := report.Target{
		Name:   shortName(server) + " echo CPU/msg vs naive (worst of 64 and 1000 conns)",
		Goal:   fmt.Sprintf("≤ %.2f× naive", margin),
		Unit:   "× naive",
		Status: report.NotMeasured,
	}
	var worst stats.Summary
	var parts []string
	for _, conns := range []int{64, 1000} {
		s := findEcho(run, conns, 64, 1)
		if s == nil {
			continue
		}
		ratios := report.PairedRatio(s.Result(server), s.Result(naiveServer), loadgen.MetricCPUPerMsg)
		sum := stats.Summarize(ratios)
		if !sum.Valid() {
			continue
		}
		parts = append(parts, fmt.Sprintf("%d conns %.2f", conns, sum.Median))
		if !worst.Valid() || sum.Median > worst.Median {
			worst = sum
		}
	}
	if !worst.Valid() {
		t.Detail = "needs " + server + " and naive in the 64 B request/response echo cases"
		return t
	}
	t.Value = worst
	t.Detail = strings.Join(parts, ", ")
	t.Status = report.Missed
	if worst.Median <= margin {
		t.Status = report.Met
	}
	return t
}

func pct(ratio float64) float64 { return math.Round((ratio-1)*1000) / 10 }

// deriveRatioTo adds, to each round of each server of every scenario of
// kind, its figure key divided by den's figure in the same round, under
// derived, and summarises the scenario again: a ratio to a server other
// than the baseline, paired round by round.
func deriveRatioTo(run *report.Run, kind, den, key, derived string) {
	for _, s := range findKind(run, kind) {
		d := s.Result(den)
		if d == nil {
			continue
		}
		for i := range s.Results {
			r := &s.Results[i]
			for round, m := range r.Rounds {
				if m == nil || round >= len(d.Rounds) || d.Rounds[round] == nil {
					continue
				}
				num, okN := m[key]
				dv, okD := d.Rounds[round][key]
				if okN && okD && dv != 0 {
					m[derived] = num / dv
				}
			}
		}
		s.Finalize(run.Baseline)
	}
}

// worseTarget orders the outcomes of one target's cases: not measured,
// then missed, then met; within a status, the higher value is worse.
func worseTarget(a, b report.Target) bool {
	rank := map[string]int{report.NotMeasured: 2, report.Missed: 1, report.Met: 0}
	if rank[a.Status] != rank[b.Status] {
		return rank[a.Status] > rank[b.Status]
	}
	return a.Value.Median > b.Value.Median
}
