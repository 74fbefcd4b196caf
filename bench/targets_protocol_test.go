package main

import (
	"testing"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
)

// TestProtocolTargets: each protocol case is judged against its own bar
// (pooled pipelined 1.20×, pooled unpipelined 1.30×, inline 1.05×, CPU per
// request over gnet's), and a case that did not run is not measured.
func TestProtocolTargets(t *testing.T) {
	cpu := func(v float64) []map[string]float64 {
		return []map[string]float64{{loadgen.MetricCPUPerMsg: v}, {loadgen.MetricCPUPerMsg: v}}
	}
	scenario := func(kind, id string, depth int, inline, pooled float64) report.Scenario {
		return report.Scenario{ID: id, Kind: kind, Params: map[string]int{"conns": 64, "depth": depth}, Metrics: requestMetrics("req/s", "CPU/req"),
			Results: []report.ServerResult{
				{Server: baselineServer, Rounds: cpu(10)},
				{Server: inlineServer, Rounds: cpu(inline)},
				{Server: pooledServer, Rounds: cpu(pooled)},
			}}
	}
	run := &report.Run{Baseline: baselineServer, Scenarios: []report.Scenario{
		scenario(kindRESP, "resp/c64/d1", 1, 10.4, 12.5),   // 1.04, 1.25: both met
		scenario(kindRESP, "resp/c64/d16", 16, 10.6, 12.5), // 1.06, 1.25: both missed
		scenario(kindHTTP, "http/c64/d16", 16, 10, 11.9),   // 1.00, 1.19: both met
	}}
	for i := range run.Scenarios {
		run.Scenarios[i].Finalize(run.Baseline)
	}
	status := map[string]string{}
	for _, tg := range protocolTargets(run) {
		status[tg.Name] = tg.Status
	}
	for _, c := range []struct{ name, want string }{
		{"inline resp CPU/request, 64 conns, unpipelined", report.Met},
		{"pooled resp CPU/request, 64 conns, unpipelined", report.Met},
		{"inline resp CPU/request, 64 conns, 16 per write", report.Missed},
		{"pooled resp CPU/request, 64 conns, 16 per write", report.Missed},
		{"inline http CPU/request, 64 conns, 16 per write", report.Met},
		{"pooled http CPU/request, 64 conns, 16 per write", report.Met},
		{"pooled http CPU/request, 64 conns, unpipelined", report.NotMeasured},
	} {
		if status[c.name] != c.want {
			t.Errorf("%s: %q, want %q (all: %v)", c.name, status[c.name], c.want, status)
		}
	}
}
