package main

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/internal/stats"
	"github.com/sockactor/sockactor/bench/servers"
)

// The tls scenario (-scenarios tls, and the full suite; not the default
// suite, whose 90 s it would double): TLS 1.3 echo servers, sockactor on
// tls:// (inline and pooled) against stdlib crypto/tls with a goroutine
// per connection, the baseline of its ratios, paired round by round:
// full handshakes, echo CPU per message at 64 and 1000 connections, idle
// memory per connection at 10,000, and 10,000 half-open handshakes.
const kindTLS = "tls"

// The tls cases' sizes.
const (
	tlsHandshakeWorkers = 8
	tlsHalfOpenConns    = 10000
	tlsHalfOpenHold     = 2 * time.Second
)

var (
	tlsEchoConns  = []int{64, 1000}
	tlsIdleSteps  = []int{1000, 10000}
	tlsIdleTarget = 10000
)

// The bars of the tls targets (issue 22 item 6), against stdlib's
// crypto/tls server paired round by round.
const (
	tlsEchoCPUBar      = 1.0
	tlsIdleMemBar      = 0.5
	tlsHandshakeBar    = 0.95
	tlsRatioSuffix     = "_x_stdlib"
	tlsServedKey       = "tls_ho_served"
	tlsServedKeyDetail = "established echo unbroken through the attack and a fresh handshake after it"
)

// tlsServers are the servers of the tls scenario: stdlib (the baseline
// there) and the sockactor servers.
func tlsServers(all []string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s != stdlibServer && !isSockactor(s) })
}

// xStdlib is the column of a figure's ratio to stdlib's.
func xStdlib(key string) report.Metric {
	return report.Metric{Key: key + tlsRatioSuffix, Label: "×stdlib", LowerIsBetter: true}
}

// tlsRatioKeys are the figures whose ratio to stdlib's is derived.
var tlsRatioKeys = []string{
	loadgen.MetricTLSHandshakesPerSec, loadgen.MetricTLSCPUPerHandshake,
	loadgen.MetricMsgsPerSec, loadgen.MetricCPUPerMsg, loadgen.MetricP99Micros,
	loadgen.MetricRSSPerConnPfx + "1000", loadgen.MetricRSSPerConnPfx + "10000",
	loadgen.MetricTLSHeapPerConnPfx + "1000", loadgen.MetricTLSHeapPerConnPfx + "10000",
	loadgen.MetricTLSHORSSDelta, loadgen.MetricTLSHOHeapDelta,
}

// tlsCases are the tls scenario's cases.
func tlsCases(c config) ([]caseSpec, []string) {
	srvs := tlsServers(c.servers)
	switch {
	case c.target != "":
		return nil, []string{"tls skipped: it starts its own TLS servers (not an external -target)"}
	case len(srvs) == 0:
		return nil, []string{"tls skipped: it compares stdlib and the sockactor servers, and none is in this run"}
	}
	itoa := strconv.Itoa
	d := func(t time.Duration) string { return t.String() }
	mode := []string{"-mode", servers.ModeTLS}
	common := "TLS 1.3, ECDSA P-256 self-signed certificate (internal/tlsdemo), no session resumption (the client keeps no session cache); stdlib: crypto/tls over net, a goroutine per connection running its handshake (10 s deadline) then a 4 KiB read/write loop; sockactor: tls:// listener, runtime defaults (MaxTLSHandshakes 1024, TLSHandshakeTimeout 10 s)"
	var cases []caseSpec
	cases = append(cases, caseSpec{
		scenario: report.Scenario{
			ID:   "tls/handshake",
			Kind: kindTLS,
			Title: fmt.Sprintf("TLS full handshakes: %d loops of connect, handshake, one 8 B echo, close (close_notify); %d × %v measured",
				tlsHandshakeWorkers, closeTurns, turnWindow(c.duration)),
			Params: map[string]int{"workers": tlsHandshakeWorkers},
			Metrics: []report.Metric{
				{Key: loadgen.MetricTLSHandshakesPerSec, Label: "handshakes/s"},
				xStdlib(loadgen.MetricTLSHandshakesPerSec),
				{Key: loadgen.MetricTLSCPUPerHandshake, Label: "CPU/handshake", Unit: "µs", LowerIsBetter: true},
				xStdlib(loadgen.MetricTLSCPUPerHandshake),
				{Key: loadgen.MetricP50Micros, Label: "conn p50", Unit: "µs", LowerIsBetter: true, Brief: true},
				{Key: loadgen.MetricP99Micros, Label: "conn p99", Unit: "µs", LowerIsBetter: true, Brief: true},
				{Key: loadgen.MetricServerCores, Label: "srv cores", Brief: true},
				{Key: loadgen.MetricTLSHandshakeErrors, Label: "failed", LowerIsBetter: true, Brief: true},
			},
			Notes: []string{common, "×stdlib: the server's figure over stdlib's of the same round (handshakes/s: higher is better); conn p50/p99: connect to the echo's return", turnsNote(closeTurns, turnWindow(c.duration))},
		},
		turns:      closeTurns,
		servers:    srvs,
		serverArgs: mode,
		loadgen: []string{"-scenario", loadgen.ScenarioTLSHandshake, "-workers", itoa(tlsHandshakeWorkers),
			"-warmup", d(c.warmup), "-duration", d(turnWindow(c.duration)), "-sources", itoa(c.sources)},
		timeout: c.warmup + c.duration + 30*time.Second,
	})
	for _, n := range tlsEchoConns {
		cases = append(cases, caseSpec{
			scenario: report.Scenario{
				ID:     fmt.Sprintf("tls/echo/c%d", n),
				Kind:   kindTLS,
				Title:  fmt.Sprintf("TLS echo: %d conns × 64 B request/response, %d × %v measured", n, closeTurns, turnWindow(c.duration)),
				Params: map[string]int{"conns": n, "payload": 64, "window": 1},
				Metrics: []report.Metric{
					{Key: loadgen.MetricMsgsPerSec, Label: "msgs/s"},
					xStdlib(loadgen.MetricMsgsPerSec),
					{Key: loadgen.MetricCPUPerMsg, Label: "CPU/msg", Unit: "µs", LowerIsBetter: true},
					xStdlib(loadgen.MetricCPUPerMsg),
					{Key: loadgen.MetricP50Micros, Label: "p50", Unit: "µs", LowerIsBetter: true, Brief: true},
					{Key: loadgen.MetricP99Micros, Label: "p99", Unit: "µs", LowerIsBetter: true},
					xStdlib(loadgen.MetricP99Micros),
					{Key: loadgen.MetricServerCores, Label: "srv cores", Brief: true},
					{Key: loadgen.MetricMismatches, Label: "bad echoes", LowerIsBetter: true, Brief: true},
				},
				Notes: []string{common, "the connections' handshakes run before the warm-up; CPU/msg = server CPU time over the window / messages echoed", turnsNote(closeTurns, turnWindow(c.duration))},
			},
			turns:      closeTurns,
			servers:    srvs,
			serverArgs: mode,
			loadgen: []string{"-scenario", loadgen.ScenarioTLSEcho, "-conns", itoa(n), "-payload", "64",
				"-warmup", d(c.warmup), "-duration", d(turnWindow(c.duration)), "-sources", itoa(c.sources), "-dial-parallel", "64"},
			timeout: c.warmup + turnWindow(c.duration) + time.Duration(n)*10*time.Millisecond + 30*time.Second,
		})
	}
	steps := make([]string, len(tlsIdleSteps))
	var idleMetrics []report.Metric
	for i, s := range tlsIdleSteps {
		n := itoa(s)
		steps[i] = n
		idleMetrics = append(idleMetrics,
			report.Metric{Key: loadgen.MetricTLSHeapPerConnPfx + n, Label: "heap+stack/conn @" + n, Unit: "B", LowerIsBetter: true},
			xStdlib(loadgen.MetricTLSHeapPerConnPfx+n),
			report.Metric{Key: loadgen.MetricRSSPerConnPfx + n, Label: "RSS/conn @" + n, Unit: "B", LowerIsBetter: true},
			xStdlib(loadgen.MetricRSSPerConnPfx+n),
			report.Metric{Key: loadgen.MetricTLSGoroutinesPfx + n, Label: "goroutines @" + n, Brief: true})
	}
	last := tlsIdleSteps[len(tlsIdleSteps)-1]
	cases = append(cases, caseSpec{
		scenario: report.Scenario{
			ID:      fmt.Sprintf("tls/idle/%d", last),
			Kind:    kindTLS,
			Title:   fmt.Sprintf("idle TLS connections: %v, each after its handshake and one 8 B echo", steps),
			Params:  map[string]int{"conns": last},
			Metrics: idleMetrics,
			Notes: []string{common,
				"heap+stack/conn = (HeapAlloc + StackInuse after a forced GC, with N connections − before the first) / N, from the server's side channel; RSS/conn = (VmRSS − before) / N, read before that GC; the load generator is another process (a descriptor per connection each)"},
		},
		servers:    srvs,
		serverArgs: mode,
		notify:     true,
		loadgen: []string{"-scenario", loadgen.ScenarioTLSIdle, "-steps", joinInts(tlsIdleSteps), "-settle", d(c.settle),
			"-sources", itoa(c.sources), "-dial-parallel", "64"},
		timeout: time.Duration(last)*10*time.Millisecond + 90*time.Second,
	})
	cases = append(cases, caseSpec{
		scenario: report.Scenario{
			ID:   fmt.Sprintf("tls/halfopen/%d", tlsHalfOpenConns),
			Kind: kindTLS,
			Title: fmt.Sprintf("TLS half-open handshakes: %d TCP connects that never send a ClientHello, held %v, while %d established conns echo 64 B each ms",
				tlsHalfOpenConns, tlsHalfOpenHold, 4),
			Params: map[string]int{"conns": tlsHalfOpenConns},
			Metrics: []report.Metric{
				{Key: loadgen.MetricTLSHORefused, Label: "refused"},
				{Key: loadgen.MetricTLSHOHeld, Label: "held"},
				{Key: loadgen.MetricTLSHOHeapPerHeld, Label: "heap+stack/held", Unit: "B", LowerIsBetter: true},
				{Key: loadgen.MetricTLSHORSSPerHeld, Label: "RSS/held", Unit: "B", LowerIsBetter: true},
				{Key: loadgen.MetricTLSHOHeapDelta, Label: "heap+stack Δ", Unit: "MiB", LowerIsBetter: true},
				xStdlib(loadgen.MetricTLSHOHeapDelta),
				{Key: loadgen.MetricTLSHORSSDelta, Label: "RSS Δ", Unit: "MiB", LowerIsBetter: true, Brief: true},
				{Key: loadgen.MetricTLSHOCPUPerConn, Label: "CPU/connect", Unit: "µs", LowerIsBetter: true},
				{Key: loadgen.MetricTLSHOHoldCorePct, Label: "hold CPU", Unit: "%", LowerIsBetter: true, Brief: true},
				{Key: loadgen.MetricTLSHOP99Before, Label: "echo p99 before", Unit: "µs", LowerIsBetter: true, Brief: true},
				{Key: loadgen.MetricTLSHOP99During, Label: "echo p99 during", Unit: "µs", LowerIsBetter: true},
				{Key: loadgen.MetricTLSHOMaxDuring, Label: "echo max during", Unit: "µs", LowerIsBetter: true, Brief: true},
				{Key: loadgen.MetricTLSHONewOK, Label: "new handshakes ok /10", Brief: true},
				{Key: loadgen.MetricTLSHOSrvRefused, Label: "srv refused", Brief: true},
				{Key: loadgen.MetricTLSHOSrvFailed, Label: "srv failed", Brief: true},
				{Key: loadgen.MetricTLSHOGoroutines, Label: "goroutines", Brief: true},
				{Key: tlsServedKey, Label: "kept serving", Brief: true},
			},
			Notes: []string{common,
				"refused = half-open connections the server had closed by the end of the hold (sockactor: the oldest handshakes, evicted when a newer connection finds every MaxTLSHandshakes slot taken), held = still open (a handshake slot each; stdlib: a goroutine each); srv refused / srv failed = the server's own counters (failed: once the load generator reset them)",
				"heap+stack Δ = live heap + stacks after a forced GC at the end of the hold − before the attack; /held divides by the held connections; CPU/connect = server CPU while the connects were made / connects",
				"echo p99 during = round trips of the established connections from the first connect to the end of the hold; new handshakes ok = fresh TLS clients during the hold that got through (sockactor refuses them while its 1024 slots are full); kept serving = 1 when the established echo never failed and a fresh handshake succeeded after the half-open connections were gone",
			},
		},
		servers:    srvs,
		serverArgs: mode,
		notify:     true,
		loadgen: []string{"-scenario", loadgen.ScenarioTLSHalfOpen, "-conns", itoa(tlsHalfOpenConns), "-duration", d(tlsHalfOpenHold),
			"-settle", d(max(c.settle, 300*time.Millisecond)), "-sources", itoa(c.sources), "-dial-parallel", "128"},
		timeout: tlsHalfOpenHold + 2*time.Minute,
	})
	return cases, nil
}

// joinInts joins counts with commas.
func joinInts(ns []int) string {
	s := ""
	for i, n := range ns {
		if i > 0 {
			s += ","
		}
		s += strconv.Itoa(n)
	}
	return s
}

// deriveTLSRatios adds to every tls round its figures' ratios to stdlib's
// of the same round, and the half-open case's kept-serving flag.
func deriveTLSRatios(run *report.Run) {
	for _, s := range findKind(run, kindTLS) {
		for i := range s.Results {
			for _, m := range s.Results[i].Rounds {
				if _, ok := m[loadgen.MetricTLSHOAfterOK]; ok {
					served := 0.0
					if m[loadgen.MetricTLSHOAfterOK] == 1 && m["tls_ho_echo_errors"] == 0 && m["tls_ho_echo_msgs"] > 0 {
						served = 1
					}
					m[tlsServedKey] = served
				}
			}
		}
	}
	for _, key := range tlsRatioKeys {
		deriveRatioTo(run, kindTLS, stdlibServer, key, key+tlsRatioSuffix)
	}
}

// findTLS returns the tls case with the given id, or nil.
func findTLS(run *report.Run, id string) *report.Scenario {
	for _, s := range findKind(run, kindTLS) {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// tlsTargets checks the tls bars of both sockactor servers: echo CPU per
// message, idle heap+stack per connection at 10,000, handshakes/s, each
// against stdlib's; and that the server keeps serving through 10,000
// half-open handshakes (every round).
func tlsTargets(run *report.Run) []report.Target {
	var ts []report.Target
	ratio := func(key string) func(*report.ServerResult) stats.Summary {
		return func(r *report.ServerResult) stats.Summary { return r.Summary[key+tlsRatioSuffix] }
	}
	for _, server := range []string{inlineServer, pooledServer} {
		for _, n := range tlsEchoConns {
			ts = append(ts, judge(report.Target{Name: fmt.Sprintf("%s TLS echo CPU/msg, %d conns 64 B", shortName(server), n),
				Goal: fmt.Sprintf("≤ %.2f× stdlib", tlsEchoCPUBar), Unit: "× stdlib"},
				findTLS(run, fmt.Sprintf("tls/echo/c%d", n)), server, ratio(loadgen.MetricCPUPerMsg), true, tlsEchoCPUBar))
		}
		idle := strconv.Itoa(tlsIdleTarget)
		ts = append(ts,
			judge(report.Target{Name: fmt.Sprintf("%s TLS idle heap+stack per connection, %s conns", shortName(server), idle),
				Goal: fmt.Sprintf("≤ %.2f× stdlib", tlsIdleMemBar), Unit: "× stdlib"},
				findTLS(run, fmt.Sprintf("tls/idle/%d", tlsIdleTarget)), server, ratio(loadgen.MetricTLSHeapPerConnPfx+idle), true, tlsIdleMemBar),
			judge(report.Target{Name: fmt.Sprintf("%s TLS full handshakes/s", shortName(server)),
				Goal: fmt.Sprintf("≥ %.2f× stdlib", tlsHandshakeBar), Unit: "× stdlib"},
				findTLS(run, "tls/handshake"), server, ratio(loadgen.MetricTLSHandshakesPerSec), false, tlsHandshakeBar))
		t := judge(report.Target{Name: fmt.Sprintf("%s TLS: keeps serving through %d half-open handshakes", shortName(server), tlsHalfOpenConns),
			Goal: "= 1 (every round)", Detail: tlsServedKeyDetail},
			findTLS(run, fmt.Sprintf("tls/halfopen/%d", tlsHalfOpenConns)), server,
			func(r *report.ServerResult) stats.Summary { return r.Summary[tlsServedKey] }, false, 1)
		if t.Status == report.Met && t.Value.Min < 1 {
			t.Status = report.Missed
		}
		ts = append(ts, t)
	}
	return runWith(ts, "-scenarios tls, or -suite full")
}
