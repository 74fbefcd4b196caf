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

func TestParseConfigHostile(t *testing.T) {
	d, err := parseConfig(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(d.kinds, kindHostile) {
		t.Fatalf("the default suite runs hostile (minutes): %v", d.kinds)
	}
	f, err := parseConfig([]string{"-suite", "full"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.kinds, kindHostile) {
		t.Fatalf("the full suite lacks hostile: %v", f.kinds)
	}
	c, err := parseConfig([]string{"-scenarios", "hostile", "-slow-peers", "10,20", "-quiet-window", "300ms",
		"-flood-bytes", "200000", "-spoof-sources", "500"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.kinds) != 1 || len(c.slowPeers) != 2 || c.quietWindow != 300*time.Millisecond || c.floodBytes != 200000 || c.spoofSources != 500 {
		t.Fatalf("config %+v", c)
	}
	if d.quietWindow != 5*time.Second || d.spoofSources != 50000 || d.floodBytes != servers.DefaultFloodBytes || !slices.Equal(d.slowPeers, []int{500, 5000}) {
		t.Fatalf("default hostile config %+v", d)
	}
	for _, bad := range [][]string{
		{"-quiet-window", "10ms"}, {"-flood-bytes", "100"}, {"-spoof-sources", "0"}, {"-slow-peers", "x"},
	} {
		if _, err := parseConfig(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestBuildCasesHostile(t *testing.T) {
	c, err := parseConfig([]string{"-scenarios", "hostile", "-slow-peers", "500,2000000000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cases, notes := buildCases(c)
	if len(cases) != 2 || len(notes) != 1 || !strings.Contains(notes[0], "descriptor limit") {
		t.Fatalf("%d cases, notes %v: want the slow readers at 500, the spoof, and 2e9 peers left out", len(cases), notes)
	}
	slow, spoof := cases[0], cases[1]
	if slow.scenario.Kind != kindHostileSlow || slices.Contains(slow.servers, naiveServer) ||
		!slices.Contains(slow.servers, stdlibServer) || !slices.Contains(slow.servers, baselineServer) {
		t.Fatalf("slow readers: %s with %v", slow.scenario.Kind, slow.servers)
	}
	if !slices.Contains(slow.serverArgs, servers.ModeFloodWriter) || !slow.notify {
		t.Fatalf("slow readers: server args %v, notify %v", slow.serverArgs, slow.notify)
	}
	if spoof.scenario.Kind != kindHostileSpoof || spoof.network != servers.NetUDP || slices.Contains(spoof.servers, stdlibServer) ||
		strings.Join(spoof.serverArgs, " ") != "-max-peers 64" {
		t.Fatalf("spoof: %s over %s with %v, args %v", spoof.scenario.Kind, spoof.network, spoof.servers, spoof.serverArgs)
	}
	c.target, c.servers = "127.0.0.1:1", []string{externalServer}
	if cases, notes = buildCases(c); len(cases) != 0 || len(notes) != 1 {
		t.Fatalf("external target: %d cases, notes %v", len(cases), notes)
	}
}

// hostileRun builds a synthetic run with the two hostile scenarios.
func hostileRun(inlinePct, inlineOpen, inlineHeap []float64) *report.Run {
	rounds := func(kv map[string][]float64) []map[string]float64 {
		var out []map[string]float64
		for k, vs := range kv {
			for i, v := range vs {
				for len(out) <= i {
					out = append(out, map[string]float64{})
				}
				out[i][k] = v
			}
		}
		return out
	}
	slow := report.Scenario{Kind: kindHostileSlow, Params: map[string]int{"peers": 500}, Metrics: slowMetrics,
		Results: []report.ServerResult{
			{Server: "gnet", Rounds: rounds(map[string][]float64{loadgen.MetricIdleCorePct: {0, 0, 0}, loadgen.MetricRSSPerSlowPeer: {400, 400, 400}})},
			{Server: stdlibServer, Rounds: rounds(map[string][]float64{loadgen.MetricIdleCorePct: {0, 0, 0}, loadgen.MetricRSSPerSlowPeer: {100, 100, 100}})},
			{Server: inlineServer, Rounds: rounds(map[string][]float64{loadgen.MetricIdleCorePct: inlinePct, loadgen.MetricRSSPerSlowPeer: {300, 300, 300}})},
		}}
	spoof := report.Scenario{Kind: kindHostileSpoof, Params: map[string]int{"sources": 50000, "max_peers": 64}, Metrics: spoofMetrics,
		Results: []report.ServerResult{
			{Server: "gnet", Rounds: rounds(map[string][]float64{loadgen.MetricSpoofHeapMB: {0, 0, 0}})},
			{Server: inlineServer, Rounds: rounds(map[string][]float64{loadgen.MetricSpoofPeakOpen: inlineOpen, loadgen.MetricSpoofHeapMB: inlineHeap})},
		}}
	run := &report.Run{Baseline: baselineServer}
	for _, s := range []*report.Scenario{&slow, &spoof} {
		s.Finalize(baselineServer)
		run.Scenarios = append(run.Scenarios, *s)
	}
	return run
}

func TestHostileTargets(t *testing.T) {
	get := func(ts []report.Target, prefix string) report.Target {
		for _, tg := range ts {
			if strings.HasPrefix(tg.Name, prefix) {
				return tg
			}
		}
		t.Fatalf("no target %q", prefix)
		return report.Target{}
	}
	run := hostileRun([]float64{2, 3, 4}, []float64{100, 128, 90}, []float64{1, 2, 3})
	deriveRatioTo(run, kindHostileSlow, stdlibServer, loadgen.MetricRSSPerSlowPeer, loadgen.MetricRSSSlowVsStdlib)
	ts := evaluateTargets(run)
	for prefix, want := range map[string]string{
		"inline CPU, 500 peers":    report.Met,
		"inline peak open sockets": report.Met,
		"inline live heap moved":   report.Met,
		"pooled CPU, 500 peers":    report.NotMeasured,
		"pooled peak open sockets": report.NotMeasured,
	} {
		if tg := get(ts, prefix); tg.Status != want {
			t.Errorf("%s: %q, want %q (%+v)", prefix, tg.Status, want, tg)
		}
	}
	if r := run.Scenarios[0].Result(inlineServer); r.Summary[loadgen.MetricRSSSlowVsStdlib].Median != 3 || r.Ratio[loadgen.MetricRSSPerSlowPeer].Median != 0.75 {
		t.Fatalf("inline RSS ×stdlib %+v, ×gnet %+v", r.Summary[loadgen.MetricRSSSlowVsStdlib], r.Ratio[loadgen.MetricRSSPerSlowPeer])
	}
	// One bad round of open sockets misses the bar, whatever the median.
	ts = evaluateTargets(hostileRun([]float64{90, 95, 99}, []float64{100, 120, 30000}, []float64{9, 10, 30}))
	for _, prefix := range []string{"inline CPU, 500 peers", "inline peak open sockets", "inline live heap moved"} {
		if tg := get(ts, prefix); tg.Status != report.Missed {
			t.Errorf("%s: %q, want missed (%+v)", prefix, tg.Status, tg)
		}
	}
}

// TestSmokeHostile starts raw gnet and sockactor-inline as flood writers
// and as UDP listeners (MaxPeers 64) in child processes, the way the
// harness does, and runs tiny slow-reader and spoofed-source load
// generators against them. No timing is asserted.
func TestSmokeHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h := newTestHarness(t)
	for _, name := range []string{"gnet", inlineServer} {
		t.Run(name+"/slow", func(t *testing.T) {
			sp, err := h.startServer(ctx, name, true, []string{"-mode", servers.ModeFloodWriter,
				"-send-high-water", strconv.Itoa(servers.FloodHighWater)})
			if err != nil {
				t.Fatal(err)
			}
			defer stopServer(t, sp)
			res, err := h.runLoadgen(ctx, []string{"-role", "loadgen", "-scenario", "slow", "-target", sp.addr,
				"-server-pid", strconv.Itoa(sp.pid()), "-notify", sp.notify, "-conns", "4", "-duration", "200ms", "-sources", "2"}, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			m := res.Metrics
			refused, counted := m[loadgen.MetricWritesRefused]
			if res.Scenario != "slow" || m[loadgen.MetricSlowPeers] != 4 || len(res.Errors) != 0 || counted != (name == inlineServer) || (counted && refused < 4) {
				b, _ := json.Marshal(res)
				t.Fatalf("loadgen result %s", b)
			}
		})
		t.Run(name+"/spoof", func(t *testing.T) {
			sp, err := h.startServerOn(ctx, name, servers.NetUDP, true, []string{"-max-peers", "64"})
			if err != nil {
				t.Fatal(err)
			}
			defer stopServer(t, sp)
			res, err := h.runLoadgen(ctx, []string{"-role", "loadgen", "-scenario", "spoof", "-target", sp.addr,
				"-server-pid", strconv.Itoa(sp.pid()), "-notify", sp.notify, "-spoof-sources", "300", "-payload", "32"}, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			m := res.Metrics
			ok := res.Scenario == "spoof" && m[loadgen.MetricSpoofSources] == 300 && m[loadgen.MetricSpoofDrops] == 0 && len(res.Errors) == 0
			if _, heap := m[loadgen.MetricSpoofHeapMB]; !heap {
				ok = false
			}
			if name == inlineServer {
				// The first 64 sources made peer sockets; the others were
				// dropped over MaxPeers, with no socket and no event.
				ok = ok && m[loadgen.MetricSpoofPeerSocks] == 64 && m[loadgen.MetricSpoofLimitClose] == 0 &&
					m[loadgen.MetricSpoofPeakPeers] <= 64 && m[loadgen.MetricSpoofPeakOpen] <= 64
			}
			if !ok {
				b, _ := json.Marshal(res)
				t.Fatalf("loadgen result %s", b)
			}
		})
	}
}
