package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/servers"
)

// kindRESP is the Redis-protocol scenario (-scenarios resp, and the full
// suite): examples/redis's handler against a raw gnet server on the same
// parser package.
const kindRESP = "resp"

// respDepths are the commands per batch of the resp cases: unpipelined and
// redis-benchmark's -P 16.
var respDepths = []int{1, 16}

// respMetrics are the columns of a resp scenario.
var respMetrics = []report.Metric{
	{Key: loadgen.MetricMsgsPerSec, Label: "req/s", Ratio: true},
	{Key: loadgen.MetricCPUPerMsg, Label: "CPU/req", Unit: "µs", LowerIsBetter: true, Ratio: true},
	{Key: loadgen.MetricP50Micros, Label: "batch p50", Unit: "µs", LowerIsBetter: true, Brief: true},
	{Key: loadgen.MetricP99Micros, Label: "batch p99", Unit: "µs", LowerIsBetter: true, Ratio: true},
	{Key: loadgen.MetricServerCores, Label: "srv cores", Brief: true},
	{Key: loadgen.MetricMismatches, Label: "bad replies", LowerIsBetter: true, Brief: true},
}

// respCases are the RESP cases: 64 connections (and 1000 in the full
// suite), each at depth 1 and 16, on gnet and the sockactor servers.
func respCases(c config) ([]caseSpec, []string) {
	srvs := transportServers(c.servers)
	switch {
	case c.target != "":
		return nil, []string{"resp skipped: it starts its own Redis-protocol servers (not an external -target)"}
	case len(srvs) == 0:
		return nil, []string{"resp skipped: it compares gnet and the sockactor servers, and none is in this run"}
	}
	conns := []int{64}
	if c.suite == "full" {
		conns = append(conns, 1000)
	}
	itoa := strconv.Itoa
	var cases []caseSpec
	for _, n := range conns {
		for _, depth := range respDepths {
			mode := "unpipelined"
			if depth > 1 {
				mode = fmt.Sprintf("pipelined, %d commands per write", depth)
			}
			cases = append(cases, caseSpec{
				scenario: report.Scenario{
					ID:   fmt.Sprintf("resp/c%d/d%d", n, depth),
					Kind: kindRESP,
					Title: fmt.Sprintf("Redis protocol (RESP2): %d conns, SET and GET in turn, 64 B values, %s, %v measured",
						n, mode, c.duration),
					Params:  map[string]int{"conns": n, "depth": depth, "payload": 64},
					Metrics: respMetrics,
					Notes: []string{
						"servers in " + servers.ModeRESP + " mode: sockactor-inline and sockactor-pooled run examples/redis's handler (resp.Handler: a framing.HeaderBody parser, a 64-shard store, the replies of one read in one write); gnet runs the same resp.Session in OnTraffic on gnet v2 directly",
						"each connection writes a batch of commands, reads and checks every reply byte for byte, then writes the next; batch p50/p99 = a batch's round trip; CPU/req = server utime+stime over the window / requests answered",
					},
				},
				servers:    srvs,
				serverArgs: []string{"-mode", servers.ModeRESP},
				loadgen: []string{"-scenario", "resp", "-conns", itoa(n), "-window", itoa(depth), "-payload", "64",
					"-warmup", c.warmup.String(), "-duration", c.duration.String(), "-sources", itoa(c.sources)},
				timeout: c.warmup + c.duration + time.Duration(n)*2*time.Millisecond + 30*time.Second,
			})
		}
	}
	return cases, nil
}
