// Package report holds the results of one bench run and writes them: the
// plain-text table printed on stdout, JSON and Markdown files, and an SVG
// chart drawn with gonum.org/v1/plot.
package report

import (
	"math"
	"sort"
	"time"

	"github.com/sockactor/sockactor/bench/internal/stats"
)

// Machine describes where the run happened.
type Machine struct {
	Cores     int    `json:"cores"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// Run is everything one bench run produced.
type Run struct {
	// Started is when the run began; Elapsed its wall time in seconds.
	Started time.Time `json:"started"`
	Elapsed float64   `json:"elapsed_s"`
	// Commit is the short git commit of the module, or "unknown".
	Commit  string  `json:"commit"`
	Machine Machine `json:"machine"`
	// Suite is "default", "full" or "custom".
	Suite string `json:"suite"`
	// Rounds is the number of interleaved rounds per scenario.
	Rounds int `json:"rounds"`
	// Baseline is the server every ratio is against ("gnet"), empty when
	// there is none (an external -target).
	Baseline string `json:"baseline,omitempty"`
	// Servers lists the servers compared, in run order, with a description.
	Servers []ServerInfo `json:"servers"`
	// Scenarios are the results, in run order.
	Scenarios []Scenario `json:"scenarios"`
	// Targets are the project's goals, each met, missed or not measured.
	Targets []Target `json:"targets,omitempty"`
	// Notes are remarks about the whole run.
	Notes []string `json:"notes,omitempty"`
}

// ServerInfo names one compared server.
type ServerInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Metric describes one column of a scenario.
type Metric struct {
	// Key is the key in each round's metrics.
	Key string `json:"key"`
	// Label is the column title, Unit its unit.
	Label string `json:"label"`
	Unit  string `json:"unit,omitempty"`
	// LowerIsBetter tells how to read the figure.
	LowerIsBetter bool `json:"lower_is_better,omitempty"`
	// Ratio asks for the ratio to the baseline next to the figure.
	Ratio bool `json:"ratio,omitempty"`
	// Brief shows only the median in tables (the JSON keeps min and max).
	Brief bool `json:"brief,omitempty"`
}

// Scenario is one measured case across every server and round.
type Scenario struct {
	// ID is unique within the run, e.g. "echo/c64/p64/w1".
	ID string `json:"id"`
	// Kind is echo, idle, churn, ban or fanout.
	Kind string `json:"kind"`
	// Title is the human heading.
	Title string `json:"title"`
	// Params are the numeric parameters (conns, payload, window, ...).
	Params map[string]int `json:"params,omitempty"`
	// Metrics are the columns, in display order.
	Metrics []Metric `json:"metrics"`
	// Results holds one entry per server, in run order.
	Results []ServerResult `json:"results"`
	// Notes are remarks shown under the scenario's table.
	Notes []string `json:"notes,omitempty"`
}

// ServerResult is one server's figures in one scenario.
type ServerResult struct {
	Server string `json:"server"`
	// Rounds holds each round's metrics; Rounds[r] is nil when round r
	// failed for this server.
	Rounds []map[string]float64 `json:"rounds"`
	// Errors are failures and warnings, prefixed by their round.
	Errors []string `json:"errors,omitempty"`
	// Unavailable, when not empty, says why the server could not run this
	// scenario at all (its transport is not supported): no round ran and
	// none failed.
	Unavailable string `json:"unavailable,omitempty"`
	// Summary is the median [min, max] of each metric over the rounds.
	Summary map[string]stats.Summary `json:"summary,omitempty"`
	// Ratio is the median [min, max] of the per-round ratios to the
	// baseline's figure of the same round.
	Ratio map[string]stats.Summary `json:"ratio,omitempty"`
}

// Result returns the result of server in the scenario, or nil.
func (s *Scenario) Result(server string) *ServerResult {
	for i := range s.Results {
		if s.Results[i].Server == server {
			return &s.Results[i]
		}
	}
	return nil
}

// byRound returns metric key of r as a round-indexed map.
func (r *ServerResult) byRound(key string) map[int]float64 {
	out := make(map[int]float64, len(r.Rounds))
	for i, m := range r.Rounds {
		if v, ok := m[key]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[i] = v
		}
	}
	return out
}

// PairedRatio returns the per-round ratios of metric key between two
// servers' results, paired round by round.
func PairedRatio(num, den *ServerResult, key string) []float64 {
	if num == nil || den == nil {
		return nil
	}
	return stats.PairedRatios(num.byRound(key), den.byRound(key))
}

// Finalize computes every Summary and, when baseline names a server of the
// scenario, every Ratio. Keys present in rounds but not declared as Metrics
// are summarised too, so the JSON keeps every figure.
func (s *Scenario) Finalize(baseline string) {
	base := s.Result(baseline)
	for i := range s.Results {
		r := &s.Results[i]
		keys := map[string]bool{}
		for _, m := range r.Rounds {
			for k := range m {
				keys[k] = true
			}
		}
		r.Summary = map[string]stats.Summary{}
		r.Ratio = nil
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			vals := make([]float64, 0, len(r.Rounds))
			for _, v := range r.byRound(k) {
				vals = append(vals, v)
			}
			if sum := stats.Summarize(vals); sum.Valid() {
				r.Summary[k] = sum
			}
		}
		if base == nil {
			continue
		}
		for _, m := range s.Metrics {
			if !m.Ratio {
				continue
			}
			if sum := stats.Summarize(PairedRatio(r, base, m.Key)); sum.Valid() {
				if r.Ratio == nil {
					r.Ratio = map[string]stats.Summary{}
				}
				r.Ratio[m.Key] = sum
			}
		}
	}
}

// Target is one of the project's performance goals.
type Target struct {
	// Name says what is compared, e.g. "inline echo CPU/msg, 64 conns".
	Name string `json:"name"`
	// Goal is the goal as text, e.g. "<= 1.15x gnet".
	Goal string `json:"goal"`
	// Status is Met, Missed or NotMeasured.
	Status string `json:"status"`
	// Value is the measured figure (median [min, max]); Unit says whether it
	// is a ratio ("x gnet") or an absolute unit.
	Value stats.Summary `json:"value"`
	Unit  string        `json:"unit,omitempty"`
	// Detail explains a missing measurement or gives context.
	Detail string `json:"detail,omitempty"`
}

// Target statuses.
const (
	Met         = "met"
	Missed      = "missed"
	NotMeasured = "not measured"
)
