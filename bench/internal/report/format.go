package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/sockactor/sockactor/bench/internal/stats"
)

// FormatNumber prints v compactly with three or so significant digits:
// 1.23M, 45.6k, 789, 12.3, 1.23.
func FormatNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "NaN"
	case a == 0:
		return "0"
	case a >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// FormatSummary prints "median [min–max]", or only the median when brief,
// or "-" when there is no sample. A single sample prints alone.
func FormatSummary(s stats.Summary, brief bool) string {
	if !s.Valid() {
		return "-"
	}
	if brief || s.N == 1 || s.Min == s.Max {
		return FormatNumber(s.Median)
	}
	return fmt.Sprintf("%s [%s–%s]", FormatNumber(s.Median), FormatNumber(s.Min), FormatNumber(s.Max))
}

// FormatRatio prints a ratio summary as "1.03 [0.98–1.07]".
func FormatRatio(s stats.Summary) string {
	if !s.Valid() {
		return "-"
	}
	if s.N == 1 || s.Min == s.Max {
		return fmt.Sprintf("%.2f", s.Median)
	}
	return fmt.Sprintf("%.2f [%.2f–%.2f]", s.Median, s.Min, s.Max)
}

// columns returns the header and the rows of a scenario's table: the
// server, then each metric (with its ratio column when asked and a
// baseline exists).
func columns(s *Scenario, baseline string) (header []string, rows [][]string) {
	withRatio := baseline != "" && s.Result(baseline) != nil
	header = []string{"server"}
	for _, m := range s.Metrics {
		h := m.Label
		if m.Unit != "" {
			h += " (" + m.Unit + ")"
		}
		header = append(header, h)
		if m.Ratio && withRatio {
			header = append(header, "×"+baseline)
		}
	}
	for _, r := range s.Results {
		name := r.Server
		if r.Unavailable != "" {
			name += " (unavailable)"
		}
		row := []string{name}
		for _, m := range s.Metrics {
			row = append(row, FormatSummary(r.Summary[m.Key], m.Brief))
			if m.Ratio && withRatio {
				if r.Server == baseline {
					row = append(row, "1")
				} else {
					row = append(row, FormatRatio(r.Ratio[m.Key]))
				}
			}
		}
		rows = append(rows, row)
	}
	return header, rows
}

// targetRow returns the cells of a target's row.
func targetRow(t Target) []string {
	val := "-"
	if t.Value.Valid() {
		if t.Unit == "" || strings.HasPrefix(t.Unit, "×") {
			val = FormatRatio(t.Value) + " " + t.Unit
		} else {
			val = FormatSummary(t.Value, false) + " " + t.Unit
		}
	}
	status := strings.ToUpper(t.Status)
	return []string{t.Name, t.Goal, strings.TrimSpace(val), status, t.Detail}
}

// legendLines explain the markers of the tables: how a figure and a ratio
// are summarised, and what a target's status means. They follow the last
// table of the text and Markdown reports.
func legendLines(run *Run) []string {
	lines := []string{
		"a figure is the median [min–max] over the rounds (secondary columns show the median alone); k, M, G = 10³, 10⁶, 10⁹",
	}
	if run.Baseline != "" {
		lines = append(lines, fmt.Sprintf("×%s: each round's figure divided by %s's in the same round, then the median [min–max] of those ratios; a range across 1.00 is no difference this run could see", run.Baseline, run.Baseline))
	}
	lines = append(lines, "! a round's error; (unavailable): the server refused the scenario's transport")
	if len(run.Targets) > 0 {
		lines = append(lines,
			"MET / MISSED: the median measured against the goal (≤ at most, ≥ at least); \"every round\": the worst round is judged too",
			"NOT MEASURED: the figure is not in this run (its scenario or server did not run, or failed); the detail says which")
	}
	return lines
}
