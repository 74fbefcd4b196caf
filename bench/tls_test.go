package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/servers"
)

// TestTLSCases: the tls scenario runs by name and in the full suite, not
// in the default one, on stdlib and the sockactor servers in TLS mode.
func TestTLSCases(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		cases int
	}{
		{nil, 0},
		{[]string{"-scenarios", "tls"}, 5},
		{[]string{"-suite", "full"}, 5},
		{[]string{"-scenarios", "tls", "-servers", "gnet"}, 0},
	} {
		got := casesOf(t, kindTLS, tc.args...)
		if len(got) != tc.cases {
			t.Fatalf("%q: %d tls cases, want %d", tc.args, len(got), tc.cases)
		}
		for _, cs := range got {
			if !slices.Equal(cs.servers, []string{"stdlib", "sockactor-inline", "sockactor-pooled"}) ||
				!slices.Equal(cs.serverArgs, []string{"-mode", servers.ModeTLS}) {
				t.Fatalf("%q: case %+v", tc.args, cs)
			}
		}
	}
}

// TestTLSTargets: the ratios to stdlib are paired round by round and the
// targets judge them; the half-open case must keep serving in every round.
func TestTLSTargets(t *testing.T) {
	rounds := func(vals ...map[string]float64) []map[string]float64 { return vals }
	served := map[string]float64{loadgen.MetricTLSHOAfterOK: 1, "tls_ho_echo_msgs": 10}
	broken := map[string]float64{loadgen.MetricTLSHOAfterOK: 1, "tls_ho_echo_msgs": 10, "tls_ho_echo_errors": 1}
	run := &report.Run{Baseline: baselineServer, Scenarios: []report.Scenario{
		{ID: "tls/echo/c64", Kind: kindTLS, Results: []report.ServerResult{
			{Server: stdlibServer, Rounds: rounds(map[string]float64{loadgen.MetricCPUPerMsg: 10}, map[string]float64{loadgen.MetricCPUPerMsg: 20})},
			{Server: inlineServer, Rounds: rounds(map[string]float64{loadgen.MetricCPUPerMsg: 8}, map[string]float64{loadgen.MetricCPUPerMsg: 18})},
			{Server: pooledServer, Rounds: rounds(map[string]float64{loadgen.MetricCPUPerMsg: 12}, map[string]float64{loadgen.MetricCPUPerMsg: 22})},
		}},
		{ID: "tls/halfopen/10000", Kind: kindTLS, Results: []report.ServerResult{
			{Server: stdlibServer, Rounds: rounds(served, served)},
			{Server: inlineServer, Rounds: rounds(served, served)},
			{Server: pooledServer, Rounds: rounds(served, broken)},
		}},
	}}
	for i := range run.Scenarios {
		run.Scenarios[i].Finalize(run.Baseline)
	}
	deriveTLSRatios(run)
	status := map[string]string{}
	for _, tg := range tlsTargets(run) {
		status[tg.Name] = tg.Status
	}
	for name, want := range map[string]string{
		"inline TLS echo CPU/msg, 64 conns 64 B":                       report.Met,
		"pooled TLS echo CPU/msg, 64 conns 64 B":                       report.Missed,
		"inline TLS echo CPU/msg, 1000 conns 64 B":                     report.NotMeasured,
		"inline TLS: keeps serving through 10000 half-open handshakes": report.Met,
		"pooled TLS: keeps serving through 10000 half-open handshakes": report.Missed,
		"inline TLS idle heap+stack per connection, 10000 conns":       report.NotMeasured,
		"pooled TLS full handshakes/s":                                 report.NotMeasured,
	} {
		if status[name] != want {
			t.Errorf("%s: %q, want %q (all: %v)", name, status[name], want, status)
		}
	}
	if r := run.Scenarios[0].Result(inlineServer).Summary[loadgen.MetricCPUPerMsg+tlsRatioSuffix]; r.Min != 0.8 || r.Max != 0.9 {
		t.Errorf("inline CPU/msg ratios %+v, want 0.8 and 0.9", r)
	}
}

// TestSmokeTLS starts stdlib and sockactor-inline in TLS mode as child
// processes and runs every tls load generator against each with tiny
// sizes; a server without a TLS mode is unavailable.
func TestSmokeTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h := &harness{exe: exe, progress: newProgress(io.Discard, false), stderr: io.Discard}
	defer h.children.killAll()
	mode := []string{"-mode", servers.ModeTLS}
	if _, err := h.startServerWith(ctx, "gnet", "", false, mode, 0); !errors.As(err, new(*unavailableError)) {
		t.Fatalf("gnet in tls mode: %v, want unavailable", err)
	}
	for _, name := range []string{"stdlib", "sockactor-inline"} {
		t.Run(name, func(t *testing.T) {
			sp, err := h.startServerWith(ctx, name, "", true, mode, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := sp.stop(10 * time.Second); err != nil {
					t.Errorf("stop %s: %v (%s)", name, err, sp.describeExit())
				}
			}()
			base := []string{"-role", "loadgen", "-target", sp.addr, "-server-pid", strconv.Itoa(sp.pid()), "-notify", sp.notify}
			for _, tc := range []struct {
				args []string
				keys []string
			}{
				{[]string{"-scenario", loadgen.ScenarioTLSHandshake, "-workers", "2", "-warmup", "20ms", "-duration", "500ms"},
					[]string{loadgen.MetricTLSHandshakesPerSec, loadgen.MetricP99Micros}},
				{[]string{"-scenario", loadgen.ScenarioTLSEcho, "-conns", "4", "-payload", "64", "-warmup", "20ms", "-duration", "300ms"},
					[]string{loadgen.MetricMsgsPerSec, loadgen.MetricP99Micros}},
				{[]string{"-scenario", loadgen.ScenarioTLSIdle, "-steps", "4,8", "-settle", "20ms"},
					[]string{loadgen.MetricRSSPerConnPfx + "8", loadgen.MetricTLSHeapPerConnPfx + "8", loadgen.MetricTLSGoroutinesPfx + "8"}},
				{[]string{"-scenario", loadgen.ScenarioTLSHalfOpen, "-conns", "20", "-duration", "100ms", "-settle", "50ms"},
					[]string{loadgen.MetricTLSHOHeld, loadgen.MetricTLSHOP99During, loadgen.MetricTLSHOSrvFailed}},
			} {
				res, err := h.runLoadgen(ctx, append(slices.Clone(base), tc.args...), 60*time.Second)
				b, _ := json.Marshal(res)
				if err != nil || len(res.Errors) != 0 || res.Scenario != tc.args[1] {
					t.Fatalf("%s: %v, result %s", tc.args[1], err, b)
				}
				for _, k := range tc.keys {
					if _, ok := res.Metrics[k]; !ok {
						t.Fatalf("%s: no %s in %s", tc.args[1], k, b)
					}
				}
				if tc.args[1] == loadgen.ScenarioTLSHalfOpen {
					// 20 half-open connections are under every bound: all
					// held, none refused, every one counted failed once reset;
					// a fresh handshake after them succeeds.
					m := res.Metrics
					if m[loadgen.MetricTLSHOHeld] != 20 || m[loadgen.MetricTLSHORefused] != 0 ||
						m[loadgen.MetricTLSHOSrvFailed] != 20 || m[loadgen.MetricTLSHOAfterOK] != 1 {
						t.Fatalf("half-open: %s", b)
					}
				}
			}
		})
	}
}
