package report

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/bench/internal/stats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sampleRun is a small finished run: two servers, two rounds, one echo
// scenario and one target.
func sampleRun() *Run {
	run := &Run{
		Started:  time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Elapsed:  61.5,
		Commit:   "abc1234",
		Machine:  Machine{Cores: 2, CPUModel: "Test CPU | 2 GHz", GoVersion: "go1.26", Kernel: "Linux 6.1", OS: "linux", Arch: "amd64"},
		Suite:    "default",
		Rounds:   2,
		Baseline: "gnet",
		Servers:  []ServerInfo{{Name: "gnet", Description: "baseline"}, {Name: "other", Description: "contender"}},
		Scenarios: []Scenario{{
			ID:     "echo/c64/p64/w1",
			Kind:   "echo",
			Title:  "echo: 64 conns",
			Params: map[string]int{"conns": 64, "payload": 64, "window": 1},
			Metrics: []Metric{
				{Key: "msgs_per_s", Label: "msgs/s", Ratio: true},
				{Key: "p99_us", Label: "p99", Unit: "µs", LowerIsBetter: true, Ratio: true},
				{Key: "cpu_us_per_msg", Label: "CPU/msg", Unit: "µs", Brief: true},
			},
			Results: []ServerResult{
				{Server: "gnet", Rounds: []map[string]float64{
					{"msgs_per_s": 100, "p99_us": 10, "cpu_us_per_msg": 5},
					{"msgs_per_s": 200, "p99_us": 20, "cpu_us_per_msg": 5},
				}},
				{Server: "other", Rounds: []map[string]float64{
					{"msgs_per_s": 110, "p99_us": 12, "cpu_us_per_msg": 6},
					nil, // round 2 failed
				}, Errors: []string{"round 2: boom"}},
			},
			Notes: []string{"a note"},
		}},
		Targets: []Target{{Name: "other echo p99", Goal: "≤ 1.2× gnet", Status: Met, Value: stats.Summary{N: 1, Median: 1.2, Min: 1.2, Max: 1.2}, Unit: "× gnet"}},
		Notes:   []string{"run note"},
	}
	for i := range run.Scenarios {
		run.Scenarios[i].Finalize(run.Baseline)
	}
	return run
}

func TestFinalizePairsRounds(t *testing.T) {
	run := sampleRun()
	s := &run.Scenarios[0]
	other := s.Result("other")
	if other == nil || s.Result("nobody") != nil {
		t.Fatal("Result lookup broken")
	}
	// Round 1 only: 110/100 and 12/10; round 2 of "other" failed and must
	// not be paired with gnet's round 2.
	want := map[string]stats.Summary{
		"msgs_per_s": {N: 1, Median: 1.1, Min: 1.1, Max: 1.1},
		"p99_us":     {N: 1, Median: 1.2, Min: 1.2, Max: 1.2},
	}
	for k, w := range want {
		got := other.Ratio[k]
		if got.N != w.N || !near(got.Median, w.Median) {
			t.Errorf("ratio %s = %+v, want %+v", k, got, w)
		}
	}
	if _, ok := other.Ratio["cpu_us_per_msg"]; ok {
		t.Error("ratio computed for a metric that did not ask for one")
	}
	if g := s.Result("gnet").Summary["msgs_per_s"]; g != (stats.Summary{N: 2, Median: 150, Min: 100, Max: 200}) {
		t.Errorf("gnet summary = %+v", g)
	}
	if got := PairedRatio(s.Result("gnet"), s.Result("gnet"), "p99_us"); len(got) != 2 || got[0] != 1 || got[1] != 1 {
		t.Errorf("self ratio = %v", got)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestJSONRoundTrip(t *testing.T) {
	run := sampleRun()
	path := filepath.Join(t.TempDir(), "sub", "latest.json")
	if err := WriteJSON(path, run); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	// A nil round survives as null.
	if !reflect.DeepEqual(got, run) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, run)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v %v", entries, err)
	}
}

func TestMarkdown(t *testing.T) {
	run := sampleRun()
	path := filepath.Join(t.TempDir(), "latest.md")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(f, run); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{
		"# sockactor bench results",
		"`abc1234`",
		`Test CPU \| 2 GHz`, // pipes escaped
		"| server | msgs/s | ×gnet | p99 (µs) | ×gnet | CPU/msg (µs) |",
		"| gnet | 150 [100–200] | 1 | 15.0 [10.0–20.0] | 1 | 5.00 |",
		"| other | 110 | 1.10 | 12.0 | 1.20 | 6.00 |",
		"⚠ other: round 2: boom",
		"## Targets",
		"| other echo p99 | ≤ 1.2× gnet | 1.20 × gnet | MET |",
		"- run note",
		"## Legend",
		"- MET / MISSED: the median measured against the goal",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Every table row of the scenario has as many cells as its header.
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| gnet |") || strings.HasPrefix(line, "| other |") {
			if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != 7 {
				t.Errorf("row %q has %d separators, want 7", line, n)
			}
		}
	}
}

func TestText(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteText(&buf, sampleRun()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"== echo: 64 conns", "×gnet", "150 [100–200]", "! other: round 2: boom", "== targets", "MET", "note: run note",
		"legend:", "median [min–max] over the rounds", "×gnet: each round's figure", "MET / MISSED:", "NOT MEASURED:"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "legend:") < strings.Index(out, "== targets") {
		t.Errorf("the legend does not follow the targets table:\n%s", out)
	}
}

func TestChart(t *testing.T) {
	run := sampleRun()
	path := filepath.Join(t.TempDir(), "latest.svg")
	if err := WriteChart(path, run); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("64 conns")) {
		t.Fatalf("not an SVG chart of the echo scenarios: %.200s", b)
	}
	run.Scenarios = nil
	if err := WriteChart(path, run); err != ErrNothingToChart {
		t.Fatalf("chart of nothing: err = %v", err)
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {0.001234, "0.00123"}, {1.234, "1.23"}, {12.34, "12.3"}, {123.4, "123"},
		{12345, "12.3k"}, {1234567, "1.23M"}, {-12.34, "-12.3"},
	}
	for _, tt := range tests {
		if got := FormatNumber(tt.v); got != tt.want {
			t.Errorf("FormatNumber(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	if got := FormatSummary(stats.Summary{}, false); got != "-" {
		t.Errorf("empty summary = %q", got)
	}
	if got := FormatSummary(stats.Summary{N: 3, Median: 2, Min: 1, Max: 3}, true); got != "2.00" {
		t.Errorf("brief summary = %q", got)
	}
	if got := FormatRatio(stats.Summary{N: 3, Median: 1.05, Min: 0.98, Max: 1.1}); got != "1.05 [0.98–1.10]" {
		t.Errorf("ratio = %q", got)
	}
}
