package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/servers"
)

// The http scenario: examples/http (its own handler, server.Handler) under
// both dispatch modes against raw gnet running the same h1 package and
// routes in OnTraffic, loaded with GET /plaintext by the bench's own
// HTTP/1.1 client, pipelined (depth 16, TechEmpower's) and not (depth 1).
// It is in the full suite and runs with -scenarios http, not in the
// default suite.

// httpConns is the connection count of the http cases; httpDepths their
// requests per batch.
const httpConns = 64

var httpDepths = []int{16, 1}

// httpMetrics are the columns of an http case.
var httpMetrics = []report.Metric{
	{Key: loadgen.MetricMsgsPerSec, Label: "requests/s", Ratio: true},
	{Key: loadgen.MetricCPUPerMsg, Label: "CPU/request", Unit: "µs", LowerIsBetter: true, Ratio: true},
	{Key: loadgen.MetricP50Micros, Label: "batch p50", Unit: "µs", LowerIsBetter: true, Brief: true},
	{Key: loadgen.MetricP99Micros, Label: "batch p99", Unit: "µs", LowerIsBetter: true, Ratio: true},
	{Key: loadgen.MetricServerCores, Label: "srv cores", Brief: true},
}

// httpCases are the http cases, one per depth, on gnet and the sockactor
// servers of the run.
func httpCases(c config) ([]caseSpec, []string) {
	srvs := transportServers(c.servers)
	switch {
	case c.target != "":
		return nil, []string{"http skipped: it starts its own HTTP servers (not an external -target)"}
	case len(srvs) == 0:
		return nil, []string{"http skipped: it compares gnet and the sockactor servers, and none is in this run"}
	}
	itoa := strconv.Itoa
	var cases []caseSpec
	for _, depth := range httpDepths {
		mode := "request/response"
		if depth > 1 {
			mode = fmt.Sprintf("pipelined, %d requests per write", depth)
		}
		cases = append(cases, caseSpec{
			scenario: report.Scenario{
				ID:      fmt.Sprintf("http/c%d/d%d", httpConns, depth),
				Kind:    kindHTTP,
				Title:   fmt.Sprintf("HTTP/1.1 GET /plaintext: %d keep-alive conns, %s, %v measured", httpConns, mode, c.duration),
				Params:  map[string]int{"conns": httpConns, "depth": depth},
				Metrics: httpMetrics,
				Notes: []string{
					"sockactor: examples/http's handler (examples/http/server); gnet: the same h1.Conn and routes in OnTraffic (c.Next(-1), Serve, one c.Write); both answer every request of a read in one write",
					"each connection writes its batch of requests at once, reads every response (checked: 200, Hello, World!), then writes the next; latency = a batch's write to its last response",
				},
			},
			servers:    srvs,
			serverArgs: []string{"-mode", servers.ModeHTTP},
			loadgen: []string{"-scenario", "http", "-conns", itoa(httpConns), "-window", itoa(depth),
				"-warmup", c.warmup.String(), "-duration", c.duration.String(), "-sources", itoa(c.sources)},
			timeout: c.warmup + c.duration + 30*time.Second,
		})
	}
	return cases, nil
}
