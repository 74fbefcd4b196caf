package main

import (
	"fmt"
	"math"
	"strconv"
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
	return append(ts, tlsTargets(run)...)
}

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

func pct(ratio float64) float64 { return math.Round((ratio-1)*1000) / 10 }

// udpCPUTarget and udpPeerTarget are the goals of the UDP scenarios:
// inline CPU per datagram against raw gnet over UDP, and an idle UDP
// peer's memory against the same server's idle TCP connection.
const (
	udpCPUTarget  = 1.15
	udpPeerTarget = 2.0
)

// transportTargets checks the UDP goals.
func transportTargets(run *report.Run) []report.Target {
	var udp *report.Scenario
	for _, s := range findKind(run, kindUDP) {
		if udp == nil || s.Params["peers"] == 64 {
			udp = s
		}
	}
	cpu := ratioTarget("UDP echo CPU/datagram, inline, vs gnet", udp, inlineServer, loadgen.MetricCPUPerMsg, true, udpCPUTarget)
	if udp != nil {
		cpu.Name = fmt.Sprintf("UDP echo CPU/datagram, inline, vs gnet (%d peers, %d B)", udp.Params["peers"], udp.Params["payload"])
	}
	var churn *report.Scenario
	if cs := findKind(run, kindUDPChurn); len(cs) > 0 {
		churn = cs[0]
	}
	mem := judge(report.Target{Name: "idle UDP peer memory vs TCP socket (inline)",
		Goal: fmt.Sprintf("≤ %.2f× TCP socket", udpPeerTarget), Unit: "× TCP socket"},
		churn, inlineServer, func(r *report.ServerResult) stats.Summary { return r.Summary[loadgen.MetricPeerVsTCP] }, true, udpPeerTarget)
	switch r := (*report.ServerResult)(nil); {
	case churn == nil:
	case mem.Status != report.NotMeasured:
		mem.Detail = fmt.Sprintf("RSS per idle peer at %d peers ÷ RSS per idle TCP connection at %d conns", churn.Params["peers"], churn.Params["tcp_step"])
	case len(findKind(run, kindIdle)) == 0:
		if r = churn.Result(inlineServer); r != nil && r.Unavailable == "" {
			mem.Detail = "needs the idle scenario in the same run (-scenarios idle,udpchurn)"
		}
	}
	return []report.Target{cpu, mem}
}

// deriveUDPPeerVsTCP adds, to each round of each server of the UDP
// peer-churn scenario, its RSS per idle peer divided by the same server's
// RSS per idle TCP connection in the same round of the idle scenario (at
// the idle step equal to the peer count, else the nearest one), and
// summarises the scenario again.
func deriveUDPPeerVsTCP(run *report.Run) {
	idles := findKind(run, kindIdle)
	churns := findKind(run, kindUDPChurn)
	if len(idles) == 0 || len(churns) == 0 {
		return
	}
	idle := idles[0]
	for _, churn := range churns {
		peers := churn.Params["peers"]
		step, best := 0, -1
		for _, m := range idle.Metrics {
			v, ok := strings.CutPrefix(m.Key, loadgen.MetricRSSPerConnPfx)
			if !ok {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				continue
			}
			if dist := abs(n - peers); best < 0 || dist < best {
				step, best = n, dist
			}
		}
		if best < 0 {
			continue
		}
		churn.Params["tcp_step"] = step
		peerKey := loadgen.MetricRSSPerPeerPfx + strconv.Itoa(peers)
		connKey := loadgen.MetricRSSPerConnPfx + strconv.Itoa(step)
		for i := range churn.Results {
			r := &churn.Results[i]
			tcp := idle.Result(r.Server)
			if tcp == nil {
				continue
			}
			for round, m := range r.Rounds {
				if m == nil || round >= len(tcp.Rounds) || tcp.Rounds[round] == nil {
					continue
				}
				p, okP := m[peerKey]
				c, okC := tcp.Rounds[round][connKey]
				if okP && okC && c > 0 {
					m[loadgen.MetricPeerVsTCP] = p / c
				}
			}
		}
		churn.Finalize(run.Baseline)
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

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

// worseTarget orders the outcomes of one target's cases: not measured,
// then missed, then met; within a status, the higher value is worse.
func worseTarget(a, b report.Target) bool {
	rank := map[string]int{report.NotMeasured: 2, report.Missed: 1, report.Met: 0}
	if rank[a.Status] != rank[b.Status] {
		return rank[a.Status] > rank[b.Status]
	}
	return a.Value.Median > b.Value.Median
}
