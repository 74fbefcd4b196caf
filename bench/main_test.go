package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
)

// TestMain lets the test binary play the bench's child roles: the smoke
// test re-executes it with "-role server ..." exactly as the harness
// re-executes the bench binary.
func TestMain(m *testing.M) {
	if _, _, ok := roleArgs(os.Args[1:]); ok {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
	)
}

func TestRoleArgs(t *testing.T) {
	tests := []struct {
		args     []string
		role     string
		rest     []string
		isChild  bool
		describe string
	}{
		{[]string{"-role", "server", "-listen", "x"}, "server", []string{"-listen", "x"}, true, "separate value"},
		{[]string{"--role=loadgen"}, "loadgen", []string{}, true, "equals form"},
		{[]string{"-suite", "full"}, "", nil, false, "harness flags"},
		{[]string{"-role"}, "", nil, false, "missing value"},
		{nil, "", nil, false, "no args"},
	}
	for _, tt := range tests {
		t.Run(tt.describe, func(t *testing.T) {
			role, rest, ok := roleArgs(tt.args)
			if ok != tt.isChild || role != tt.role || len(rest) != len(tt.rest) {
				t.Fatalf("roleArgs(%v) = %q, %v, %v", tt.args, role, rest, ok)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(t *testing.T, c config)
		wantErr string
	}{
		{name: "default suite", args: nil, check: func(t *testing.T, c config) {
			if c.rounds != 3 || len(c.echo) != 2 || c.servers[0] != "gnet" {
				t.Fatalf("default config %+v", c)
			}
			if !c.idleTargetsOnly {
				t.Error("default suite: idle memory on every server")
			}
			for _, k := range []string{kindUnix, kindFanout, kindRemote, kindHostile, kindBackpressure} {
				if slices.Contains(c.kinds, k) {
					t.Errorf("default suite runs %s", k)
				}
			}
		}},
		{name: "full suite", args: []string{"-suite", "full"}, check: func(t *testing.T, c config) {
			if len(c.echo) != 16 || c.idleSteps[len(c.idleSteps)-1] != 18000 || len(c.fanout) != 3 || len(c.kinds) != len(allKinds) {
				t.Fatalf("full config %+v", c)
			}
		}},
		{name: "echo product", args: []string{"-conns", "1,10", "-payloads", "64,4096", "-windows", "1,8", "-servers", "rawgnet,stdlib"}, check: func(t *testing.T, c config) {
			if len(c.echo) != 8 || c.suite != "custom" || c.servers[0] != "gnet" || len(c.servers) != 2 {
				t.Fatalf("custom config %+v", c)
			}
		}},
		{name: "target", args: []string{"-target", "127.0.0.1:9", "-target-pid", "12"}, check: func(t *testing.T, c config) {
			if len(c.servers) != 1 || c.servers[0] != externalServer || c.targetPID != 12 {
				t.Fatalf("target config %+v", c)
			}
		}},
		{name: "unknown server", args: []string{"-servers", "nginx"}, wantErr: "not built in"},
		{name: "unknown scenario", args: []string{"-scenarios", "soak"}, wantErr: "unknown scenario"},
		{name: "bad list", args: []string{"-conns", "1,x"}, wantErr: "not a positive integer"},
		{name: "pid without target", args: []string{"-target-pid", "3"}, wantErr: "needs -target"},
		{name: "target off this machine", args: []string{"-target", "10.1.2.3:80"}, wantErr: "not a loopback address"},
		{name: "unknown suite", args: []string{"-suite", "huge"}, wantErr: "unknown suite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestBuildCases(t *testing.T) {
	c, err := parseConfig([]string{"-servers", "gnet,stdlib", "-scenarios", "echo,idle,churn,ban,fanout,remote"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cases, notes := buildCases(c)
	kinds := map[string]int{}
	for _, cs := range cases {
		kinds[cs.scenario.Kind]++
	}
	if kinds[kindEcho] != 2 || kinds[kindIdle] != 1 || kinds[kindChurn] != 2 || kinds[kindBan] != 0 || kinds[kindFanout] != 0 || kinds[kindRemote] != 0 {
		t.Fatalf("cases by kind %v", kinds)
	}
	if len(notes) != 3 {
		t.Fatalf("notes %v: want the skipped ban, fan-out and remote explained", notes)
	}
	// The default suite measures idle memory on the servers of its
	// targets; named scenarios run on every server.
	for _, args := range [][]string{nil, {"-scenarios", "idle"}} {
		c, err := parseConfig(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		cases, _ := buildCases(c)
		for _, cs := range cases {
			if cs.scenario.Kind == kindIdle && slices.Contains(cs.servers, stdlibServer) == (args == nil) {
				t.Errorf("%v: idle runs on %v", args, cs.servers)
			}
		}
	}
	c.target, c.servers = "127.0.0.1:1", []string{externalServer}
	cases, _ = buildCases(c)
	for _, cs := range cases {
		if cs.scenario.Kind == kindIdle || cs.notify {
			t.Fatalf("external target: %s should not run (idle without pid, or a side channel)", cs.scenario.ID)
		}
	}
}

func TestLineWriter(t *testing.T) {
	w := newLineWriter()
	for _, chunk := range []string{"[gnet] noise\nlisten", "ing 127.0.0.1:5\n{\"a\":1}\n", "{\"b\":2}\r\ntrailing"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := w.waitPrefix(context.Background(), "listening ", time.Second)
	if err != nil || got != "127.0.0.1:5" {
		t.Fatalf("waitPrefix = %q, %v", got, err)
	}
	if w.json() != `{"b":2}` {
		t.Fatalf("last JSON line = %q", w.json())
	}
	w.close()
	if _, err := w.waitPrefix(context.Background(), "notify ", time.Second); err == nil {
		t.Fatal("waitPrefix on a closed writer found a line that was never written")
	}
	var tb tailBuffer
	tb.max = 4
	_, _ = tb.Write([]byte("abcdef"))
	if tb.String() != "cdef" {
		t.Fatalf("tail = %q", tb.String())
	}
}

// echoRun builds a synthetic finished run for the target checks.
func echoRun(inlineCPU, inlineRate, inlineP99, naiveCPU []float64) *report.Run {
	rounds := func(cpu, rate, p99 []float64) []map[string]float64 {
		out := make([]map[string]float64, len(cpu))
		for i := range cpu {
			out[i] = map[string]float64{
				loadgen.MetricCPUPerMsg: cpu[i], loadgen.MetricMsgsPerSec: rate[i], loadgen.MetricP99Micros: p99[i],
			}
		}
		return out
	}
	ones := []float64{1, 1, 1}
	run := &report.Run{Baseline: baselineServer}
	for _, conns := range []int{64, 1000} {
		s := report.Scenario{
			Kind: kindEcho, Params: map[string]int{"conns": conns, "payload": 64, "window": 1}, Metrics: echoMetrics,
			Results: []report.ServerResult{
				{Server: "gnet", Rounds: rounds(ones, ones, ones)},
				{Server: naiveServer, Rounds: rounds(naiveCPU, ones, ones)},
				{Server: inlineServer, Rounds: rounds(inlineCPU, inlineRate, inlineP99)},
			},
		}
		s.Finalize(baselineServer)
		run.Scenarios = append(run.Scenarios, s)
	}
	return run
}

func TestTargets(t *testing.T) {
	find := func(ts []report.Target, prefix string) report.Target {
		for _, tg := range ts {
			if strings.HasPrefix(tg.Name, prefix) {
				return tg
			}
		}
		t.Fatalf("no target %q", prefix)
		return report.Target{}
	}
	tests := []struct {
		name                  string
		cpu, rate, p99, naive []float64
		want                  map[string]string
	}{
		{
			name: "all met", cpu: []float64{1.1, 1.0, 1.2}, rate: []float64{0.95, 1, 0.9}, p99: []float64{1, 1.1, 1.3},
			naive: []float64{2, 2, 2},
			want: map[string]string{
				"inline echo CPU/msg, 64": report.Met, "inline echo msgs/s, 1000": report.Met,
				"inline echo p99, 64": report.Met, "inline echo CPU/msg vs naive": report.Met,
				"pooled echo CPU/msg, 64": report.NotMeasured, "inline idle": "", // no idle scenario: no target row
			},
		},
		{
			name: "cpu missed, naive too close", cpu: []float64{1.2, 1.3, 1.16}, rate: []float64{0.8, 0.85, 0.95}, p99: ones3(),
			naive: []float64{1.5, 1.5, 1.5},
			want: map[string]string{
				"inline echo CPU/msg, 64": report.Missed, "inline echo msgs/s, 64": report.Missed,
				"inline echo CPU/msg vs naive": report.Missed,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := evaluateTargets(echoRun(tt.cpu, tt.rate, tt.p99, tt.naive))
			for prefix, status := range tt.want {
				if status == "" {
					for _, tg := range ts {
						if strings.HasPrefix(tg.Name, prefix) {
							t.Fatalf("unexpected target %q", tg.Name)
						}
					}
					continue
				}
				if got := find(ts, prefix); got.Status != status {
					t.Errorf("%s: status %q, want %q (value %+v)", prefix, got.Status, status, got.Value)
				}
			}
		})
	}
	// The ban-check note says "within noise" only when the paired ratios
	// straddle 1.
	if n := banCheckNote(echoRun([]float64{0.95, 1.0, 1.05}, ones3(), ones3(), ones3())); !strings.Contains(n, "within noise") {
		t.Errorf("straddling ratios: %q", n)
	}
	if n := banCheckNote(echoRun([]float64{1.1, 1.2, 1.15}, ones3(), ones3(), ones3())); strings.Contains(n, "within noise") {
		t.Errorf("ratios all above 1: %q", n)
	}
}

func ones3() []float64 { return []float64{1, 1, 1} }

// TestOneTargetPerFigure checks that every figure is judged once, against
// its own bar: the pooled echo, the naive comparison and each idle step
// name one goal each.
func TestOneTargetPerFigure(t *testing.T) {
	run := echoRun(ones3(), ones3(), ones3(), []float64{2, 2, 2})
	idle := report.Scenario{Kind: kindIdle, Params: map[string]int{}}
	for _, n := range []string{"1000", "10000", "18000"} {
		idle.Metrics = append(idle.Metrics, report.Metric{Key: loadgen.MetricRSSPerConnPfx + n, Ratio: true, LowerIsBetter: true})
	}
	for _, srv := range []string{baselineServer, inlineServer, pooledServer} {
		m := map[string]float64{}
		for _, n := range []string{"1000", "10000", "18000"} {
			m[loadgen.MetricRSSPerConnPfx+n] = 1000
		}
		idle.Results = append(idle.Results, report.ServerResult{Server: srv, Rounds: []map[string]float64{m, m, m}})
	}
	idle.Finalize(baselineServer)
	run.Scenarios = append(run.Scenarios, idle)

	ts := evaluateTargets(run)
	seen := map[string]bool{}
	for _, tg := range ts {
		if seen[tg.Name] {
			t.Errorf("target %q appears twice", tg.Name)
		}
		seen[tg.Name] = true
		if strings.HasPrefix(tg.Name, "[") {
			t.Errorf("target %q carries a tag", tg.Name)
		}
	}
	goals := map[string]string{
		"pooled echo CPU/msg, 64 conns 64 B":   "≤ 1.30× gnet",
		"pooled echo CPU/msg, 1000 conns 64 B": "≤ 1.30× gnet",
		"inline echo CPU/msg vs naive":         "≤ 0.67× naive",
		"pooled echo CPU/msg vs naive":         "≤ 0.80× naive",
		"inline idle RSS/conn at 1000 conns":   "≤ 1.75× gnet",
		"inline idle RSS/conn at 10000 conns":  "≤ 1.50× gnet",
		"inline idle RSS/conn at 18000 conns":  "≤ 2.00× gnet",
		"pooled idle RSS/conn at 1000 conns":   "≤ 2.00× gnet",
		"pooled idle RSS/conn at 10000 conns":  "≤ 1.75× gnet",
	}
	for prefix, goal := range goals {
		found := false
		for _, tg := range ts {
			if strings.HasPrefix(tg.Name, prefix) {
				found = true
				if tg.Goal != goal {
					t.Errorf("%s: goal %q, want %q", tg.Name, tg.Goal, goal)
				}
			}
		}
		if !found {
			t.Errorf("no target %q", prefix)
		}
	}
	for _, tg := range ts {
		if strings.Contains(tg.Name, "peers that never read") && !strings.Contains(tg.Detail, "-scenarios hostile") {
			t.Errorf("%s: detail %q does not say how to run it", tg.Name, tg.Detail)
		}
	}
}

// TestSmokeServers starts the raw gnet and stdlib servers as child
// processes, the way the harness does, and checks every echoed byte of 200
// messages on each of two connections; then runs one short load-generator
// child against gnet and checks its JSON result. No timing is asserted.
func TestSmokeServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := &harness{exe: exe, progress: newProgress(io.Discard, false), stderr: io.Discard}
	defer h.children.killAll()

	for _, name := range []string{"gnet", "stdlib"} {
		t.Run(name, func(t *testing.T) {
			sp, err := h.startServer(ctx, name, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := sp.stop(10 * time.Second); err != nil {
					t.Errorf("stop %s: %v (%s)", name, err, sp.describeExit())
				}
			}()
			for c := range 2 {
				conn, err := net.DialTimeout("tcp", sp.addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
				got := make([]byte, 4096)
				for i := range 200 {
					msg := []byte(fmt.Sprintf("conn %d message %d %s", c, i, strings.Repeat("x", (i*37)%1500)))
					if _, err := conn.Write(msg); err != nil {
						t.Fatal(err)
					}
					if _, err := io.ReadFull(conn, got[:len(msg)]); err != nil {
						t.Fatalf("conn %d message %d: %v", c, i, err)
					}
					if !bytes.Equal(got[:len(msg)], msg) {
						t.Fatalf("conn %d message %d: echoed %q, sent %q", c, i, got[:len(msg)], msg)
					}
				}
				_ = conn.Close()
			}
			if name != "gnet" {
				return
			}
			res, err := h.runLoadgen(ctx, []string{"-role", "loadgen", "-scenario", "echo", "-target", sp.addr,
				"-server-pid", strconv.Itoa(sp.pid()), "-conns", "2", "-warmup", "20ms", "-duration", "300ms"}, 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if res.Scenario != "echo" || res.Metrics[loadgen.MetricMismatches] != 0 || res.Metrics[loadgen.MetricConns] != 2 || len(res.Errors) != 0 {
				b, _ := json.Marshal(res)
				t.Fatalf("loadgen result %s", b)
			}
		})
	}
}

func TestTerminatedBy(t *testing.T) {
	err := exec.Command("sh", "-c", "kill -TERM $$").Run()
	if !terminatedBy(err, syscall.SIGTERM) {
		t.Fatalf("terminatedBy(%v, SIGTERM) = false", err)
	}
	if terminatedBy(err, syscall.SIGKILL) {
		t.Fatalf("terminatedBy(%v, SIGKILL) = true", err)
	}
	if terminatedBy(exec.Command("sh", "-c", "exit 3").Run(), syscall.SIGTERM) || terminatedBy(nil, syscall.SIGTERM) {
		t.Fatal("a plain exit or nil counted as SIGTERM")
	}
}

// TestOwnDir checks the default results directory's guard: it is made
// private, found again on the next run, and refused when it is a link.
func TestOwnDir(t *testing.T) {
	base := t.TempDir()
	dir := base + "/results"
	for range 2 {
		if err := ownDir(dir); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %v, err %v", fi.Mode(), err)
	}
	link := base + "/link"
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if err := ownDir(link); err == nil {
		t.Fatal("a link was taken for the results directory")
	}
	if d := defaultResultsDir(); !strings.HasPrefix(d, os.TempDir()) {
		t.Fatalf("default results directory %s is not under %s", d, os.TempDir())
	}
}

// casesOf parses args as the bench's flags and returns the cases of the
// scenario kind that run builds.
func casesOf(t *testing.T, kind string, args ...string) []caseSpec {
	t.Helper()
	c, err := parseConfig(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cases, _ := buildCases(c)
	return slices.DeleteFunc(cases, func(cs caseSpec) bool { return cs.scenario.Kind != kind })
}
