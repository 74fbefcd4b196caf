package main

import (
	"fmt"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
)

// The bars of the protocol servers (issue 21): CPU per request against raw
// gnet serving the same protocol, paired round by round; Inline at gnet,
// Pooled within a bound that is tighter when requests come pipelined (the
// hand-off to a worker is shared by the requests of one read).
const (
	protocolInlineBar      = 1.05
	protocolPooledPipeBar  = 1.20
	protocolPooledUnpipBar = 1.30
)

// protocolConns is the connection count the protocol targets judge.
const protocolConns = 64

// protocolTargets checks CPU per request of both sockactor servers in the
// resp and http scenarios, unpipelined (depth 1) and pipelined (depth 16).
func protocolTargets(run *report.Run) []report.Target {
	var ts []report.Target
	for _, kind := range []string{kindRESP, kindHTTP} {
		for _, depth := range []int{1, 16} {
			s := findProtocol(run, kind, protocolConns, depth)
			shape := "unpipelined"
			pooledBar := protocolPooledUnpipBar
			if depth > 1 {
				shape = fmt.Sprintf("%d per write", depth)
				pooledBar = protocolPooledPipeBar
			}
			for _, b := range []struct {
				server string
				bar    float64
			}{{inlineServer, protocolInlineBar}, {pooledServer, pooledBar}} {
				name := fmt.Sprintf("%s %s CPU/request, %d conns, %s", shortName(b.server), kind, protocolConns, shape)
				ts = append(ts, ratioTarget(name, s, b.server, loadgen.MetricCPUPerMsg, true, b.bar))
			}
		}
	}
	return runWith(ts, "-scenarios resp,http, or -suite full")
}

// findProtocol returns the case of a protocol scenario at conns and depth,
// or nil.
func findProtocol(run *report.Run, kind string, conns, depth int) *report.Scenario {
	for _, s := range findKind(run, kind) {
		if s.Params["conns"] == conns && s.Params["depth"] == depth {
			return s
		}
	}
	return nil
}
