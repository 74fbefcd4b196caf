package main

import (
	"fmt"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/servers"
)

// kindRESP is the Redis-protocol scenario (-scenarios resp, and the full
// suite): examples/redis's handler against a raw gnet server on the same
// parser package.
const kindRESP = servers.ModeRESP

// respCases are the RESP cases: 64 connections (and 1000 in the full
// suite), each unpipelined and at redis-benchmark's -P 16, SET and GET of
// 64 B values in turn, on gnet and the sockactor servers.
func respCases(c config) ([]caseSpec, []string) {
	conns := []int{64}
	if c.suite == "full" {
		conns = append(conns, 1000)
	}
	return protocolScenario{
		kind:    kindRESP,
		own:     "its own Redis-protocol servers",
		conns:   conns,
		depths:  []int{1, 16},
		payload: 64,
		single:  "unpipelined",
		per:     "commands",
		title: func(n int, mode string) string {
			return fmt.Sprintf("Redis protocol (RESP2): %d conns, SET and GET in turn, 64 B values, %s, %d × %v measured", n, mode, closeTurns, turnWindow(c.duration))
		},
		metrics: append(requestMetrics("req/s", "CPU/req"),
			report.Metric{Key: loadgen.MetricMismatches, Label: "bad replies", LowerIsBetter: true, Brief: true}),
		notes: []string{
			"servers in " + servers.ModeRESP + " mode: sockactor-inline and sockactor-pooled run examples/redis's handler (resp.Handler: a framing.HeaderBody parser, a 64-shard store, the replies of one read in one write); gnet runs the same resp.Session in OnTraffic on gnet v2 directly",
			"each connection writes a batch of commands, reads and checks every reply byte for byte, then writes the next; batch p50/p99 = a batch's round trip; CPU/req = server CPU time (user + kernel) over the window / requests answered",
		},
	}.cases(c)
}
