package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sockactor/sockactor/bench/internal/report"
)

// TestFleetCases: the fleet scenario runs by name and in the full suite,
// not in the default one, on the sockactor servers, with its own round;
// its flags are checked.
func TestFleetCases(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		cases int
		ttlMs int
	}{
		{nil, 0, 0},
		{[]string{"-scenarios", "fleet"}, 1, 1000},
		{[]string{"-suite", "full"}, 1, 1000},
		{[]string{"-scenarios", "fleet", "-fleet-ttl", "2s", "-fleet-closes", "20"}, 1, 2000},
		{[]string{"-scenarios", "fleet", "-servers", "gnet"}, 0, 0},
	} {
		c, err := parseConfig(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		cases, notes := buildCases(c)
		var got []caseSpec
		for _, cs := range cases {
			if cs.scenario.Kind == kindFleet {
				got = append(got, cs)
			}
		}
		if len(got) != tc.cases {
			t.Fatalf("%q: %d fleet cases, want %d", tc.args, len(got), tc.cases)
		}
		if tc.cases == 0 {
			if slices.Contains(tc.args, "fleet") && !strings.Contains(strings.Join(notes, " "), "fleet skipped") {
				t.Errorf("%q: notes %q do not say why fleet is skipped", tc.args, notes)
			}
			continue
		}
		cs := got[0]
		if !slices.Equal(cs.servers, []string{inlineServer, pooledServer}) || cs.run == nil ||
			cs.scenario.Params["ttl_ms"] != tc.ttlMs || cs.timeout < time.Minute {
			t.Fatalf("%q: case %+v", tc.args, cs)
		}
	}
	for _, bad := range [][]string{
		{"-fleet-ttl", "1500ms"}, {"-fleet-ttl", "0s"}, {"-fleet-closes", "0"},
	} {
		if _, err := parseConfig(bad, io.Discard); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestFleetTargets: the membership bars follow the TTL of the run and are
// judged on every round.
func TestFleetTargets(t *testing.T) {
	round := func(kill, stop, follow float64) map[string]float64 {
		return map[string]float64{metricFleetKillLeave: kill, metricFleetStopLeave: stop, metricFleetContFollow: follow}
	}
	run := &report.Run{Baseline: baselineServer, Scenarios: []report.Scenario{{
		ID: "fleet", Kind: kindFleet, Params: map[string]int{"ttl_ms": 2000},
		Results: []report.ServerResult{
			{Server: inlineServer, Rounds: []map[string]float64{round(2100, 1900, 10), round(2200, 2000, 12), round(2900, 2400, 3000)}},
			{Server: pooledServer, Rounds: []map[string]float64{round(900, 1000, 5), round(1100, 1050, 6), round(1200, 900, 7)}},
		},
	}}}
	run.Scenarios[0].Finalize(run.Baseline)
	status := map[string]report.Target{}
	for _, tg := range evaluateTargets(run) {
		if strings.Contains(tg.Name, "fleet") {
			status[tg.Name] = tg
		}
	}
	for name, want := range map[string]string{
		"inline fleet: LEAVE after kill -9 of a gateway": report.Met,    // every round within 3 s
		"inline fleet: LEAVE after SIGSTOP of a gateway": report.Met,    // likewise
		"inline fleet: followed again after SIGCONT":     report.Missed, // the median is met, not the worst round
		"pooled fleet: LEAVE after kill -9 of a gateway": report.Met,
		"pooled fleet: followed again after SIGCONT":     report.Met,
	} {
		if tg := status[name]; tg.Status != want {
			t.Errorf("%s: %q, want %q (%+v)", name, tg.Status, want, tg)
		}
	}
	if g := status["inline fleet: LEAVE after kill -9 of a gateway"].Goal; !strings.Contains(g, "3000 ms") {
		t.Errorf("goal %q does not follow the 2 s TTL", g)
	}
	empty := &report.Run{Baseline: baselineServer}
	for _, tg := range evaluateTargets(empty) {
		if strings.Contains(tg.Name, "fleet") && (tg.Status != report.NotMeasured || !strings.Contains(tg.Detail, "-scenarios fleet")) {
			t.Errorf("no fleet run: %+v", tg)
		}
	}
}

// TestSmokeFleet runs one fleet round of sockactor-inline with 20 closes:
// etcd, two gateways and the watcher as child processes, as the harness
// runs them. It checks that every figure is there and sane, not its speed.
func TestSmokeFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := fleetParams{ttl: time.Second, closes: 20}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout())
	defer cancel()
	h := &harness{exe: exe, progress: newProgress(io.Discard, false), stderr: io.Discard}
	defer h.children.killAll()
	res, err := h.fleetRound(ctx, inlineServer, p)
	b, _ := json.Marshal(res)
	if err != nil || len(res.Errors) != 0 {
		t.Fatalf("round: %v, result %s", err, b)
	}
	m := res.Metrics
	if m[metricFleetCloses] != 20 || m[metricFleetCloseLost] != 0 {
		t.Fatalf("closes: %s", b)
	}
	if !(m[metricFleetCloseP50] > 0 && m[metricFleetCloseP50] <= m[metricFleetCloseP99] && m[metricFleetCloseP99] <= m[metricFleetCloseMax]) {
		t.Errorf("close latencies out of order: %s", b)
	}
	// A LOST comes before the LEAVE; each LEAVE within the wait's bound;
	// the JOIN after SIGCONT before the SNAPSHOT.
	bound := float64(p.detectWait() / time.Millisecond)
	for _, k := range []string{metricFleetKillLost, metricFleetKillLeave, metricFleetStopLeave, metricFleetContJoin, metricFleetContFollow} {
		if v, ok := m[k]; !ok || v <= 0 || v > bound {
			t.Errorf("%s = %v (present %v), want in (0, %v]: %s", k, v, ok, bound, b)
		}
	}
	if m[metricFleetKillLost] >= m[metricFleetKillLeave] || m[metricFleetContJoin] > m[metricFleetContFollow] {
		t.Errorf("membership out of order: %s", b)
	}
	left := func() int {
		h.children.mu.Lock()
		defer h.children.mu.Unlock()
		return len(h.children.set)
	}
	for end := time.Now().Add(2 * time.Second); left() != 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond) // each child's Wait goroutine forgets it just after its exit
	}
	if n := left(); n != 0 {
		t.Errorf("%d children left after the round", n)
	}
}
