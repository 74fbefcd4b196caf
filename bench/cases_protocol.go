package main

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
)

// protocolScenario is a request/response protocol served by examples code
// on the sockactor servers and by the same parser on raw gnet: the resp
// and http scenarios. Its kind is also the loadgen's -scenario and the
// servers' -mode.
type protocolScenario struct {
	kind string
	// own is what the scenario starts, for the note when it is skipped.
	own    string
	conns  []int
	depths []int
	// payload is the loadgen's -payload and the payload parameter, when
	// not 0.
	payload int
	// single is the mode's word at depth 1; a deeper batch is "pipelined,
	// N <per> per write".
	single, per string
	// title is the scenario's title, given its connection count and mode.
	title   func(conns int, mode string) string
	metrics []report.Metric
	notes   []string
}

// requestMetrics are the columns of a request/response protocol scenario:
// rate, CPU per request and latency per batch, rate and cpu naming the
// first two.
func requestMetrics(rate, cpu string) []report.Metric {
	return []report.Metric{
		{Key: loadgen.MetricMsgsPerSec, Label: rate, Ratio: true},
		{Key: loadgen.MetricCPUPerMsg, Label: cpu, Unit: "µs", LowerIsBetter: true, Ratio: true},
		{Key: loadgen.MetricP50Micros, Label: "batch p50", Unit: "µs", LowerIsBetter: true, Brief: true},
		{Key: loadgen.MetricP99Micros, Label: "batch p99", Unit: "µs", LowerIsBetter: true, Ratio: true},
		{Key: loadgen.MetricServerCores, Label: "srv cores", Brief: true},
	}
}

// cases are p's cases, one per connection count and depth, on gnet and
// the sockactor servers of the run.
func (p protocolScenario) cases(c config) ([]caseSpec, []string) {
	srvs, skip := gnetAndSockactor(c, p.kind, p.own)
	if skip != nil {
		return nil, skip
	}
	itoa := strconv.Itoa
	var cases []caseSpec
	for _, n := range p.conns {
		for _, depth := range p.depths {
			mode := p.single
			if depth > 1 {
				mode = fmt.Sprintf("pipelined, %d %s per write", depth, p.per)
			}
			params := map[string]int{"conns": n, "depth": depth}
			loadgen := []string{"-scenario", p.kind, "-conns", itoa(n), "-window", itoa(depth)}
			if p.payload != 0 {
				params["payload"] = p.payload
				loadgen = append(loadgen, "-payload", itoa(p.payload))
			}
			cases = append(cases, caseSpec{
				scenario: report.Scenario{
					ID:      fmt.Sprintf("%s/c%d/d%d", p.kind, n, depth),
					Kind:    p.kind,
					Title:   p.title(n, mode),
					Params:  params,
					Metrics: p.metrics,
					Notes:   append(slices.Clone(p.notes), turnsNote(closeTurns, turnWindow(c.duration))),
				},
				turns:      closeTurns,
				servers:    srvs,
				serverArgs: []string{"-mode", p.kind},
				loadgen: append(loadgen, "-warmup", c.warmup.String(), "-duration", turnWindow(c.duration).String(),
					"-sources", itoa(c.sources)),
				timeout: c.warmup + turnWindow(c.duration) + time.Duration(n)*2*time.Millisecond + 30*time.Second,
			})
		}
	}
	return cases, nil
}
