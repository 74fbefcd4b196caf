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
