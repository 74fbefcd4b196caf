package main

import (
	"context"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/servers"
)

// TestMergeTurns: a round's figures from its turns, each kind of figure
// by its own rule.
func TestMergeTurns(t *testing.T) {
	turn := func(msgs, rate, cpu, cores, p99, conns float64, errs ...string) loadgen.Result {
		return loadgen.Result{Scenario: "http", Errors: errs, Metrics: map[string]float64{
			loadgen.MetricMsgs: msgs, loadgen.MetricMsgsPerSec: rate, loadgen.MetricCPUPerMsg: cpu,
			loadgen.MetricServerCores: cores, loadgen.MetricP99Micros: p99, loadgen.MetricConns: conns,
			loadgen.MetricMismatches: 0,
		}}
	}
	// Windows: 1000/2000 = 0.5 s and 3000/1000 = 3 s.
	got := mergeTurns([]loadgen.Result{
		turn(1000, 2000, 2, 1.0, 100, 64, "a"),
		turn(3000, 1000, 4, 0.5, 300, 63),
		turn(0, 0, 0, 0, 200, 64, "b"),
	})
	for _, tc := range []struct {
		key  string
		want float64
	}{
		{loadgen.MetricMsgs, 4000},
		{loadgen.MetricCPUPerMsg, (1000*2 + 3000*4) / 4000.0}, // over all messages
		{loadgen.MetricMsgsPerSec, 4000 / 3.5},                // over all windows
		{loadgen.MetricServerCores, (0.5*1.0 + 3*0.5) / 3.5},
		{loadgen.MetricP99Micros, 200}, // the median turn
		{loadgen.MetricConns, 63},      // the fewest a turn had
		{loadgen.MetricMismatches, 0},
	} {
		if v := got.Metrics[tc.key]; math.Abs(v-tc.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", tc.key, v, tc.want)
		}
	}
	if got.Scenario != "http" || !slices.Equal(got.Errors, []string{"a", "b"}) {
		t.Errorf("scenario %q errors %q", got.Scenario, got.Errors)
	}
	// Turns that count no messages (TLS handshakes): every figure is the
	// median turn's, the cores too.
	hs := func(rate, cpu, cores float64) loadgen.Result {
		return loadgen.Result{Scenario: "tls-handshake", Metrics: map[string]float64{
			loadgen.MetricTLSHandshakesPerSec: rate, loadgen.MetricTLSCPUPerHandshake: cpu, loadgen.MetricServerCores: cores,
		}}
	}
	h := mergeTurns([]loadgen.Result{hs(1000, 500, 0.9), hs(1200, 450, 1.0), hs(1100, 480, 0.95)})
	for key, want := range map[string]float64{
		loadgen.MetricTLSHandshakesPerSec: 1100, loadgen.MetricTLSCPUPerHandshake: 480, loadgen.MetricServerCores: 0.95,
	} {
		if v := h.Metrics[key]; math.Abs(v-want) > 1e-9 {
			t.Errorf("handshake turns: %s = %v, want %v", key, v, want)
		}
	}
	if even := mergeTurns([]loadgen.Result{turn(1, 1, 1, 1, 10, 1), turn(1, 1, 1, 1, 20, 1)}); even.Metrics[loadgen.MetricP99Micros] != 15 {
		t.Errorf("median of two turns: %v, want 15", even.Metrics[loadgen.MetricP99Micros])
	}
}

// TestProtocolAndTLSCloseCasesTakeTurns: the cases with the narrow bars
// are measured in turns, and say so; a turn is the suite's window shared
// among the turns, at least minTurn.
func TestProtocolAndTLSCloseCasesTakeTurns(t *testing.T) {
	for _, suite := range []struct {
		args []string
		turn string
	}{
		{nil, "500ms"},                        // default: 500 ms windows
		{[]string{"-suite", "full"}, "625ms"}, // full: 2.5 s windows
	} {
		for _, kind := range []string{kindRESP, kindHTTP, kindTLS} {
			for _, cs := range casesOf(t, kind, append([]string{"-scenarios", kind}, suite.args...)...) {
				turned := strings.HasPrefix(cs.scenario.ID, "tls/echo/") || cs.scenario.ID == "tls/handshake"
				if kind != kindTLS || turned {
					i := slices.Index(cs.loadgen, "-duration")
					if cs.turns != closeTurns || !strings.Contains(strings.Join(cs.scenario.Notes, "\n"), "turns of "+suite.turn) ||
						i < 0 || cs.loadgen[i+1] != suite.turn {
						t.Errorf("%q %s: turns %d, loadgen %q, notes %q", suite.args, cs.scenario.ID, cs.turns, cs.loadgen, cs.scenario.Notes)
					}
				} else if cs.turns > 1 {
					t.Errorf("%s: turns %d, want none", cs.scenario.ID, cs.turns)
				}
			}
		}
	}
}

// TestTurnsRound runs one round of an http case in turns on real server
// children: the servers run side by side, take their turns in alternating
// order, each round's figures are the turns' merged, and a server without
// an http mode is marked unavailable without holding up the others.
func TestTurnsRound(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h := &harness{exe: exe, progress: newProgress(io.Discard, false), stderr: io.Discard, cfg: config{rounds: 1}}
	defer h.children.killAll()
	cs := caseSpec{
		scenario:   report.Scenario{ID: "http/test", Kind: kindHTTP},
		servers:    []string{"gnet", "stdlib", "sockactor-inline"},
		serverArgs: []string{"-mode", servers.ModeHTTP},
		loadgen:    []string{"-scenario", "http", "-conns", "4", "-window", "4", "-warmup", "20ms", "-duration", "100ms"},
		timeout:    30 * time.Second,
		turns:      3,
	}
	sc := cs.scenario
	sc.Results = []report.ServerResult{{Server: "gnet", Rounds: make([]map[string]float64, 1)},
		{Server: "stdlib", Rounds: make([]map[string]float64, 1)}, {Server: "sockactor-inline", Rounds: make([]map[string]float64, 1)}}
	var order []string
	if err := h.runTurnsRound(ctx, cs, &sc, 0, func(srv string, turn int) { order = append(order, srv) }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"gnet", "sockactor-inline", "sockactor-inline", "gnet", "gnet", "sockactor-inline"}; !slices.Equal(order, want) {
		t.Fatalf("turns in order %q, want %q", order, want)
	}
	if sc.Results[1].Unavailable == "" || sc.Results[1].Rounds[0] != nil {
		t.Fatalf("stdlib: %+v, want unavailable", sc.Results[1])
	}
	for _, i := range []int{0, 2} {
		r := sc.Results[i]
		m := r.Rounds[0]
		if len(r.Errors) != 0 || m == nil || m[loadgen.MetricMsgs] == 0 || m[loadgen.MetricCPUPerMsg] <= 0 ||
			m[loadgen.MetricMismatches] != 0 || m[loadgen.MetricConns] != 4 {
			t.Fatalf("%s: %+v", r.Server, r)
		}
	}
	// Every child has exited: the servers stopped at the round's end (a
	// child leaves the set just after its exit is reaped).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		h.children.mu.Lock()
		n := len(h.children.set)
		h.children.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d children still running after the round", n)
		}
	}
}
