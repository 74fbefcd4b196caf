package main

import (
	"fmt"
)

// The http scenario: examples/http (its own handler, server.Handler) under
// both dispatch modes against raw gnet running the same h1 package and
// routes in OnTraffic, loaded with GET /plaintext by the bench's own
// HTTP/1.1 client, pipelined (depth 16, TechEmpower's) and not (depth 1).
// It is in the full suite and runs with -scenarios http, not in the
// default suite.

// httpConns is the connection count of the http cases.
const httpConns = 64

// httpCases are the http cases, one per depth, on gnet and the sockactor
// servers of the run.
func httpCases(c config) ([]caseSpec, []string) {
	return protocolScenario{
		kind:   kindHTTP,
		own:    "its own HTTP servers",
		conns:  []int{httpConns},
		depths: []int{16, 1},
		single: "request/response",
		per:    "requests",
		title: func(n int, mode string) string {
			return fmt.Sprintf("HTTP/1.1 GET /plaintext: %d keep-alive conns, %s, %d × %v measured", n, mode, closeTurns, turnWindow(c.duration))
		},
		metrics: requestMetrics("requests/s", "CPU/request"),
		notes: []string{
			"sockactor: examples/http's handler (examples/http/server); gnet: the same h1.Conn and routes in OnTraffic (c.Next(-1), Serve, one c.Write); both answer every request of a read in one write",
			"each connection writes its batch of requests at once, reads every response (checked: 200, Hello, World!), then writes the next; latency = a batch's write to its last response",
		},
	}.cases(c)
}
