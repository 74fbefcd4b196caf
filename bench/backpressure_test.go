package main

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/servers"
)

func TestParseConfigBackpressure(t *testing.T) {
	d, err := parseConfig(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(d.kinds, kindBackpressure) {
		t.Fatalf("the default suite runs backpressure (minutes): %v", d.kinds)
	}
	if !slices.Equal(d.bpConns, []int{1, 16}) || d.bpPeriod != servers.DefaultConsumePeriod || d.bpWindow != 4*time.Second || d.bpMaxInbound != 0 {
		t.Fatalf("default backpressure config %+v", d)
	}
	f, err := parseConfig([]string{"-suite", "full"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.kinds, kindBackpressure) {
		t.Fatalf("the full suite lacks backpressure: %v", f.kinds)
	}
	c, err := parseConfig([]string{"-scenarios", "backpressure", "-bp-conns", "2,8", "-bp-period", "4ms",
		"-bp-window", "1s", "-bp-max-inbound", "262144"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.kinds, []string{kindBackpressure}) || !slices.Equal(c.bpConns, []int{2, 8}) ||
		c.bpPeriod != 4*time.Millisecond || c.bpWindow != time.Second || c.bpMaxInbound != 256<<10 {
		t.Fatalf("config %+v", c)
	}
	for _, bad := range [][]string{
		{"-bp-conns", "0"}, {"-bp-period", "1us"}, {"-bp-window", "10ms"}, {"-bp-max-inbound", "-1"},
	} {
		if _, err := parseConfig(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestBuildCasesBackpressure(t *testing.T) {
	c, err := parseConfig([]string{"-scenarios", "backpressure", "-bp-conns", "1,16", "-bp-max-inbound", "65536"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cases, notes := buildCases(c)
	if len(cases) != 2 || len(notes) != 0 {
		t.Fatalf("%d cases, notes %v: want one per connection count", len(cases), notes)
	}
	for i, n := range []int{1, 16} {
		bc := cases[i]
		// Every case runs at the same total rate: each of n connections
		// takes n periods per 64 KiB.
		period := (servers.DefaultConsumePeriod * time.Duration(n)).String()
		if bc.scenario.Kind != kindBackpressure || bc.scenario.Params["conns"] != n || !bc.notify ||
			slices.Contains(bc.servers, baselineServer) || slices.Contains(bc.servers, naiveServer) ||
			!slices.Contains(bc.servers, stdlibServer) || !slices.Contains(bc.servers, inlineServer) || !slices.Contains(bc.servers, pooledServer) {
			t.Fatalf("case %d: %s %v with %v", i, bc.scenario.Kind, bc.scenario.Params, bc.servers)
		}
		want := "-mode " + servers.ModeSlowConsumer + " -consume-period " + period + " -max-inbound 65536"
		if got := strings.Join(bc.serverArgs, " "); got != want {
			t.Fatalf("case %d: server args %q, want %q", i, got, want)
		}
		lg := strings.Join(bc.loadgen, " ")
		if !strings.Contains(lg, "-scenario backpressure") || !strings.Contains(lg, "-conns "+strconv.Itoa(n)) ||
			!strings.Contains(lg, "-consume-period "+period) {
			t.Fatalf("case %d: loadgen args %q", i, lg)
		}
	}
	c.servers = []string{"gnet", naiveServer}
	if cases, notes = buildCases(c); len(cases) != 0 || len(notes) != 1 {
		t.Fatalf("no stdlib or sockactor server: %d cases, notes %v", len(cases), notes)
	}
	c.target, c.servers = "127.0.0.1:1", []string{externalServer}
	if cases, notes = buildCases(c); len(cases) != 0 || len(notes) != 1 {
		t.Fatalf("external target: %d cases, notes %v", len(cases), notes)
	}
}

// bpRun builds a synthetic run of two backpressure cases: stdlib at 20 MiB
// peak in both, inline at inlinePeak[i] in case i, with the given closes
// and throughputs (the consumer's rate is 32 MB/s).
func bpRun(inlinePeak [2]float64, inlineCloses float64, stdlibRate float64) *report.Run {
	round := func(peak, closes, rate float64) map[string]float64 {
		return map[string]float64{loadgen.MetricBPPeakRSS: peak, loadgen.MetricBPCloses: closes,
			loadgen.MetricBPThroughput: rate, loadgen.MetricBPConsumerRate: 32}
	}
	three := func(m map[string]float64) []map[string]float64 { return []map[string]float64{m, m, m} }
	run := &report.Run{Baseline: baselineServer}
	for i, n := range []int{1, 16} {
		s := report.Scenario{ID: "backpressure/c" + strconv.Itoa(n), Kind: kindBackpressure,
			Params: map[string]int{"conns": n}, Metrics: backpressureMetrics,
			Results: []report.ServerResult{
				{Server: stdlibServer, Rounds: three(round(20, 0, stdlibRate))},
				{Server: inlineServer, Rounds: three(round(inlinePeak[i], inlineCloses, 32))},
			}}
		s.Finalize(baselineServer)
		run.Scenarios = append(run.Scenarios, s)
	}
	deriveRatioTo(run, kindBackpressure, stdlibServer, loadgen.MetricBPPeakRSS, loadgen.MetricBPPeakVsStdlib)
	return run
}

func TestBackpressureTargets(t *testing.T) {
	target := func(run *report.Run, server string) report.Target {
		t.Helper()
		for _, tg := range evaluateTargets(run) {
			if strings.HasPrefix(tg.Name, shortName(server)+" peak RSS, fast producers") {
				return tg
			}
		}
		t.Fatalf("no backpressure target for %s", server)
		return report.Target{}
	}
	for _, tt := range []struct {
		name       string
		run        *report.Run
		status     string
		median     float64
		detailPart string
	}{
		{"met", bpRun([2]float64{24, 28}, 0, 32), report.Met, 1.4, "backpressure/c16"},
		{"missed in the worst case", bpRun([2]float64{24, 40}, 0, 32), report.Missed, 2, "backpressure/c16"},
		{"closes", bpRun([2]float64{24, 28}, 1, 32), report.Missed, 1.4, "closed"},
		{"not at the same rate", bpRun([2]float64{24, 28}, 0, 20), report.NotMeasured, 1.4, "stdlib's throughput"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tg := target(tt.run, inlineServer)
			if tg.Status != tt.status || tg.Value.Median != tt.median || !strings.Contains(tg.Detail, tt.detailPart) {
				t.Fatalf("target %+v, want %s at %v (%q)", tg, tt.status, tt.median, tt.detailPart)
			}
		})
	}
	if tg := target(bpRun([2]float64{24, 28}, 0, 32), pooledServer); tg.Status != report.NotMeasured {
		t.Fatalf("pooled, not in the run: %+v", tg)
	}
}

// TestSmokeBackpressure starts stdlib and the sockactor servers as slow
// consumers in child processes, the way the harness does, and runs a short
// backpressure load generator against each: every connection survives and
// the figures are there. No rate is asserted.
func TestSmokeBackpressure(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h := newTestHarness(t)
	for _, name := range []string{stdlibServer, inlineServer, pooledServer} {
		t.Run(name, func(t *testing.T) {
			sp, err := h.startServer(ctx, name, true, []string{"-mode", servers.ModeSlowConsumer, "-consume-period", "4ms"})
			if err != nil {
				t.Fatal(err)
			}
			defer stopServer(t, sp)
			res, err := h.runLoadgen(ctx, []string{"-role", "loadgen", "-scenario", "backpressure", "-target", sp.addr,
				"-server-pid", strconv.Itoa(sp.pid()), "-notify", sp.notify, "-conns", "2", "-consume-period", "4ms",
				"-warmup", "300ms", "-duration", "500ms", "-sources", "2"}, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			m := res.Metrics
			_, peak := m[loadgen.MetricBPPeakRSS]
			ok := res.Scenario == "backpressure" && m[loadgen.MetricBPCloses] == 0 && m[loadgen.MetricConns] == 2 &&
				m[loadgen.MetricBPThroughput] > 0 && m[loadgen.MetricBPConsumerRate] > 0 && peak
			for _, e := range res.Errors {
				ok = ok && strings.HasPrefix(e, "throughput") // a loaded machine may miss the rate
			}
			if !ok {
				b, _ := json.Marshal(res)
				t.Fatalf("loadgen result %s", b)
			}
		})
	}
}
