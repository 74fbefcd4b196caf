package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/servers"
)

func TestParseConfigTransports(t *testing.T) {
	c, err := parseConfig([]string{"-scenarios", "udp,unix,udpchurn", "-udp-peers", "64,1000", "-udp-payload", "16",
		"-unix-conns", "8", "-udp-churn-peers", "500", "-peer-idle", "1s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.kinds) != 3 || len(c.udpPeers) != 2 || c.udpPayload != 16 || c.unixConns[0] != 8 || c.churnPeers != 500 || c.peerIdle != time.Second {
		t.Fatalf("config %+v", c)
	}
	d, err := parseConfig(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if d.udpPayload != 64 || d.churnPeers != 10000 || d.peerIdle != time.Second || len(d.udpPeers) != 1 || len(d.unixConns) != 1 {
		t.Fatalf("default transport config %+v", d)
	}
	for _, bad := range [][]string{
		{"-udp-payload", "4"}, {"-udp-churn-peers", "20000"}, {"-peer-idle", "100ms"}, {"-udp-peers", "0"},
	} {
		if _, err := parseConfig(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestBuildCasesTransports(t *testing.T) {
	c, err := parseConfig([]string{"-servers", "gnet,stdlib,sockactor-inline", "-scenarios", "udp,unix,udpchurn"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cases, notes := buildCases(c)
	if len(cases) != 3 || len(notes) != 0 {
		t.Fatalf("cases %d, notes %v", len(cases), notes)
	}
	want := []struct{ kind, network string }{{kindUDP, servers.NetUDP}, {kindUnix, servers.NetUnix}, {kindUDPChurn, servers.NetUDP}}
	for i, cs := range cases {
		if cs.scenario.Kind != want[i].kind || cs.network != want[i].network {
			t.Fatalf("case %d: %s over %q", i, cs.scenario.Kind, cs.network)
		}
		if strings.Join(cs.servers, ",") != "gnet,sockactor-inline" {
			t.Fatalf("%s servers %v: stdlib serves tcp only", cs.scenario.ID, cs.servers)
		}
	}
	if churn := cases[2]; !churn.notify || strings.Join(churn.serverArgs, " ") != "-peer-idle 1s" {
		t.Fatalf("udpchurn: notify %v, server args %v", churn.notify, churn.serverArgs)
	}
	c.servers = []string{"stdlib"}
	if cases, notes = buildCases(c); len(cases) != 0 || len(notes) != 3 {
		t.Fatalf("stdlib only: %d cases, notes %v", len(cases), notes)
	}
}

// transportRun builds a synthetic run with a UDP echo, an idle and a UDP
// churn scenario.
func transportRun(udpCPU, peerRSS, tcpRSS []float64) *report.Run {
	run := &report.Run{Baseline: baselineServer}
	rounds := func(key string, vs []float64) []map[string]float64 {
		out := make([]map[string]float64, len(vs))
		for i, v := range vs {
			out[i] = map[string]float64{key: v}
		}
		return out
	}
	udp := report.Scenario{Kind: kindUDP, Params: map[string]int{"peers": 64, "payload": 64}, Metrics: udpEchoMetrics,
		Results: []report.ServerResult{
			{Server: "gnet", Rounds: rounds(loadgen.MetricCPUPerMsg, ones3())},
			{Server: inlineServer, Rounds: rounds(loadgen.MetricCPUPerMsg, udpCPU)},
		}}
	idleKey := loadgen.MetricRSSPerConnPfx + "10000"
	idle := report.Scenario{Kind: kindIdle, Metrics: []report.Metric{{Key: idleKey, Ratio: true}},
		Results: []report.ServerResult{{Server: inlineServer, Rounds: rounds(idleKey, tcpRSS)}}}
	churn := report.Scenario{Kind: kindUDPChurn, Params: map[string]int{"peers": 10000}, Metrics: udpChurnMetrics(10000),
		Results: []report.ServerResult{{Server: inlineServer, Rounds: rounds(loadgen.MetricRSSPerPeerPfx+"10000", peerRSS)}}}
	for _, s := range []*report.Scenario{&udp, &idle, &churn} {
		s.Finalize(baselineServer)
		run.Scenarios = append(run.Scenarios, *s)
	}
	return run
}

func TestTransportTargets(t *testing.T) {
	get := func(ts []report.Target, prefix string) report.Target {
		for _, tg := range ts {
			if strings.HasPrefix(tg.Name, prefix) {
				return tg
			}
		}
		t.Fatalf("no target %q in %v", prefix, ts)
		return report.Target{}
	}
	run := transportRun([]float64{1.1, 1.0, 1.2}, []float64{1500, 1400, 1600}, []float64{1000, 1000, 1000})
	deriveUDPPeerVsTCP(run)
	ts := evaluateTargets(run)
	if tg := get(ts, "UDP echo CPU/datagram, inline, vs gnet"); tg.Status != report.Met || tg.Value.Median != 1.1 {
		t.Fatalf("UDP CPU target %+v", tg)
	}
	if tg := get(ts, "idle UDP peer memory vs TCP socket (inline)"); tg.Status != report.Met || tg.Value.Median != 1.5 {
		t.Fatalf("UDP peer memory target %+v", tg)
	}
	run = transportRun([]float64{1.3, 1.2, 1.25}, []float64{2500, 2600, 2400}, []float64{1000, 1000, 1000})
	deriveUDPPeerVsTCP(run)
	ts = evaluateTargets(run)
	if get(ts, "UDP echo CPU/datagram").Status != report.Missed || get(ts, "idle UDP peer memory").Status != report.Missed {
		t.Fatalf("targets %+v", ts)
	}
	// A server that refused the transport is not measured, and says why.
	run = transportRun(ones3(), ones3(), ones3())
	run.Scenarios[0].Results[1] = report.ServerResult{Server: inlineServer, Unavailable: "the runtime refuses udp://"}
	if tg := get(evaluateTargets(run), "UDP echo CPU/datagram"); tg.Status != report.NotMeasured || !strings.Contains(tg.Detail, "refuses udp") {
		t.Fatalf("unavailable: %+v", tg)
	}
}

// TestSmokeTransports starts raw gnet over UDP and over a unix socket as
// child processes, the way the harness does, and runs short UDP echo, unix
// echo and UDP churn load generators against them; then checks that a
// sockactor server either serves UDP or is reported unavailable (the
// runtime refusing udp:// with WSAEINVAL "unsupported network").
func TestSmokeTransports(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h := newTestHarness(t)
	check := func(t *testing.T, res loadgen.Result, err error, scenario string, key string, want float64) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if res.Scenario != scenario || res.Metrics[key] != want || res.Metrics[loadgen.MetricMismatches] != 0 || len(res.Errors) != 0 {
			b, _ := json.Marshal(res)
			t.Fatalf("loadgen result %s", b)
		}
	}
	t.Run("gnet/udp", func(t *testing.T) {
		sp, err := h.startServerOn(ctx, "gnet", servers.NetUDP, true, []string{"-peer-idle", "2s"})
		if err != nil {
			t.Fatal(err)
		}
		defer stopServer(t, sp)
		res, err := h.runLoadgen(ctx, []string{"-role", "loadgen", "-scenario", "udp", "-target", sp.addr,
			"-server-pid", strconv.Itoa(sp.pid()), "-conns", "2", "-warmup", "20ms", "-duration", "300ms"}, 30*time.Second)
		check(t, res, err, "udp", loadgen.MetricConns, 2)
		res, err = h.runLoadgen(ctx, []string{"-role", "loadgen", "-scenario", "udpchurn", "-target", sp.addr,
			"-server-pid", strconv.Itoa(sp.pid()), "-notify", sp.notify, "-peers", "200", "-payload", "8",
			"-settle", "10ms", "-peer-idle", "2s"}, 30*time.Second)
		check(t, res, err, "udpchurn", loadgen.MetricPeers, 200)
	})
	t.Run("gnet/unix", func(t *testing.T) {
		sp, err := h.startServerOn(ctx, "gnet", servers.NetUnix, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer stopServer(t, sp)
		if !strings.HasPrefix(sp.addr, h.sockDir) {
			t.Fatalf("unix server at %q, outside the harness's socket directory %q", sp.addr, h.sockDir)
		}
		res, err := h.runLoadgen(ctx, []string{"-role", "loadgen", "-scenario", "echo", "-network", "unix", "-target", sp.addr,
			"-server-pid", strconv.Itoa(sp.pid()), "-conns", "2", "-warmup", "20ms", "-duration", "300ms"}, 30*time.Second)
		check(t, res, err, "echo", loadgen.MetricConns, 2)
	})
	for _, network := range []string{servers.NetUDP, servers.NetUnix} {
		t.Run("sockactor-inline/"+network, func(t *testing.T) {
			sp, err := h.startServerOn(ctx, "sockactor-inline", network, false, nil)
			var ue *unavailableError
			if errors.As(err, &ue) {
				if !strings.Contains(ue.reason, "unsupported network") {
					t.Fatalf("unavailable for another reason: %q", ue.reason)
				}
				t.Skipf("runtime refuses %s: %s", network, ue.reason)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer stopServer(t, sp)
			scenario, args := "udp", []string{"-scenario", "udp"}
			if network == servers.NetUnix {
				scenario, args = "echo", []string{"-scenario", "echo", "-network", "unix"}
			}
			res, err := h.runLoadgen(ctx, append(append([]string{"-role", "loadgen"}, args...), "-target", sp.addr,
				"-server-pid", strconv.Itoa(sp.pid()), "-conns", "2", "-warmup", "20ms", "-duration", "300ms"), 30*time.Second)
			check(t, res, err, scenario, loadgen.MetricConns, 2)
		})
	}
}

// newTestHarness returns a harness that runs this test binary's roles and
// kills its children and removes its socket directory with the test.
func newTestHarness(t *testing.T) *harness {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{exe: exe, progress: newProgress(io.Discard, false), stderr: io.Discard}
	t.Cleanup(func() { h.children.killAll(); h.cleanup() })
	return h
}

func stopServer(t *testing.T, sp *serverProc) {
	t.Helper()
	if err := sp.stop(10 * time.Second); err != nil {
		t.Errorf("stop: %v (%s)", err, sp.describeExit())
	}
}
