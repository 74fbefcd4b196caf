package main

import (
	"fmt"
	"math"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/internal/stats"
)

// The bars of the hostile scenario (issue "Hostile and slow peers"): 500
// peers that never read cost at most 5 % of a core; 50,000 spoofed UDP
// sources at MaxPeers 64 leave at most MaxPeers + 64 sockets open and move
// the live heap by at most 8 MiB.
const (
	slowPeersBar     = 500
	slowCorePctBar   = 5.0
	spoofSourcesBar  = 50000
	spoofSocketsOver = 64
	spoofHeapMiBBar  = 8.0
)

// hostileTargets checks the hostile bars for both sockactor servers.
func hostileTargets(run *report.Run) []report.Target {
	var slow, spoof *report.Scenario
	for _, s := range findKind(run, kindHostileSlow) {
		if slow == nil || s.Params["peers"] == slowPeersBar {
			slow = s
		}
	}
	if ss := findKind(run, kindHostileSpoof); len(ss) > 0 {
		spoof = ss[0]
	}
	var ts []report.Target
	for _, server := range []string{inlineServer, pooledServer} {
		t := report.Target{Name: fmt.Sprintf("%s CPU, %d peers that never read", shortName(server), slowPeersBar),
			Goal: fmt.Sprintf("≤ %.0f %% of a core", slowCorePctBar), Unit: "% of a core"}
		if slow != nil && slow.Params["peers"] != slowPeersBar {
			t.Detail = fmt.Sprintf("the goal is stated at %d peers; this run had %d", slowPeersBar, slow.Params["peers"])
		}
		ts = append(ts, judge(t, slow, server, func(r *report.ServerResult) stats.Summary {
			return r.Summary[loadgen.MetricIdleCorePct]
		}, true, slowCorePctBar))
	}
	maxPeers := spoofMaxPeers
	if spoof != nil {
		maxPeers = spoof.Params["max_peers"]
	}
	note := func(t *report.Target) {
		if spoof != nil && spoof.Params["sources"] != spoofSourcesBar {
			t.Detail = fmt.Sprintf("the goal is stated at %d sources; this run sent %d", spoofSourcesBar, spoof.Params["sources"])
		}
	}
	for _, server := range []string{inlineServer, pooledServer} {
		t := report.Target{Name: fmt.Sprintf("%s peak open sockets, %d spoofed UDP sources at MaxPeers %d", shortName(server), spoofSourcesBar, maxPeers),
			Goal: fmt.Sprintf("≤ %d (every round)", maxPeers+spoofSocketsOver), Unit: "sockets"}
		note(&t)
		t = judge(t, spoof, server, func(r *report.ServerResult) stats.Summary { return r.Summary[loadgen.MetricSpoofPeakOpen] },
			true, float64(maxPeers+spoofSocketsOver))
		// The median must not hide a bad round.
		if t.Status == report.Met && t.Value.Max > float64(maxPeers+spoofSocketsOver) {
			t.Status = report.Missed
		}
		ts = append(ts, t)
		h := report.Target{Name: fmt.Sprintf("%s live heap moved by %d spoofed UDP sources", shortName(server), spoofSourcesBar),
			Goal: fmt.Sprintf("≤ %.0f MiB", spoofHeapMiBBar), Unit: "MiB"}
		note(&h)
		ts = append(ts, judge(h, spoof, server, func(r *report.ServerResult) stats.Summary { return r.Summary[loadgen.MetricSpoofHeapMB] },
			true, spoofHeapMiBBar))
	}
	return ts
}

// The bar of the backpressure scenario (issue "Read back-pressure"): with
// fast producers and a slow consumer, a sockactor server's peak RSS is at
// most 1.5× the stdlib server's at the same consumer rate, and no
// connection is closed. bpRateSlack is how far a throughput may be from
// the consumer's rate for the servers to count as compared at that rate.
const (
	bpRSSBar    = 1.5
	bpRateSlack = 0.10
)

// backpressureTargets checks the backpressure bar for both sockactor
// servers over every case of the run: the worst case is reported.
func backpressureTargets(run *report.Run) []report.Target {
	cases := findKind(run, kindBackpressure)
	var ts []report.Target
	for _, server := range []string{inlineServer, pooledServer} {
		t := report.Target{
			Name: fmt.Sprintf("%s peak RSS, fast producers into a slow consumer (backpressure, worst case)", shortName(server)),
			Goal: fmt.Sprintf("≤ %.1f× stdlib's at the consumer's rate, 0 closes", bpRSSBar),
			Unit: "× stdlib",
		}
		if len(cases) == 0 {
			ts = append(ts, judge(t, nil, server, nil, true, bpRSSBar))
			continue
		}
		var worst report.Target
		for i, s := range cases {
			c := judge(t, s, server, func(r *report.ServerResult) stats.Summary {
				return r.Summary[loadgen.MetricBPPeakVsStdlib]
			}, true, bpRSSBar)
			if c.Status != report.NotMeasured {
				c.Detail = s.ID
				if r := s.Result(server); r.Summary[loadgen.MetricBPCloses].Max > 0 {
					c.Status, c.Detail = report.Missed, s.ID+": connections were closed"
				}
				for _, name := range []string{server, stdlibServer} {
					if !atConsumerRate(s.Result(name)) {
						c.Status, c.Detail = report.NotMeasured, s.ID+": "+name+"'s throughput is not the consumer's rate"
					}
				}
			}
			if i == 0 || worseTarget(c, worst) {
				worst = c
			}
		}
		ts = append(ts, worst)
	}
	return ts
}

// atConsumerRate reports whether r's median throughput is the consumer's
// rate, within bpRateSlack.
func atConsumerRate(r *report.ServerResult) bool {
	if r == nil {
		return false
	}
	got, want := r.Summary[loadgen.MetricBPThroughput], r.Summary[loadgen.MetricBPConsumerRate]
	return got.Valid() && want.Valid() && math.Abs(got.Median/want.Median-1) <= bpRateSlack
}
