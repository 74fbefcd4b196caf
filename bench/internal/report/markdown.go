package report

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the run as a Markdown document: machine, one table
// per scenario, the targets and the notes.
func WriteMarkdown(w io.Writer, run *Run) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "# sockactor bench results\n\n")
	fmt.Fprintf(ew, "| | |\n|---|---|\n")
	fmt.Fprintf(ew, "| started | %s |\n", run.Started.UTC().Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(ew, "| elapsed | %.0f s |\n", run.Elapsed)
	fmt.Fprintf(ew, "| commit | `%s` |\n", run.Commit)
	fmt.Fprintf(ew, "| suite | %s, %d rounds interleaved |\n", run.Suite, run.Rounds)
	fmt.Fprintf(ew, "| cpu | %s, %d cores |\n", mdEscape(run.Machine.CPUModel), run.Machine.Cores)
	fmt.Fprintf(ew, "| go | %s %s/%s |\n", run.Machine.GoVersion, run.Machine.OS, run.Machine.Arch)
	fmt.Fprintf(ew, "| kernel | %s |\n", mdEscape(run.Machine.Kernel))
	fmt.Fprintf(ew, "\nFigures are the median [min–max] over the rounds.")
	if run.Baseline != "" {
		fmt.Fprintf(ew, " ×%s columns are the ratio to %s, paired round by round (each round's figure divided by the same round's %s figure).", run.Baseline, run.Baseline, run.Baseline)
	}
	fmt.Fprintf(ew, "\n\n## Servers\n\n")
	for _, s := range run.Servers {
		fmt.Fprintf(ew, "- **%s**: %s\n", s.Name, mdEscape(s.Description))
	}
	for i := range run.Scenarios {
		s := &run.Scenarios[i]
		fmt.Fprintf(ew, "\n## %s\n\n", mdEscape(s.Title))
		header, rows := columns(s, run.Baseline)
		writeMDTable(ew, header, rows)
		for _, r := range s.Results {
			if r.Unavailable != "" {
				fmt.Fprintf(ew, "\n- %s: unavailable: %s", r.Server, mdEscape(r.Unavailable))
			}
			for _, e := range r.Errors {
				fmt.Fprintf(ew, "\n- ⚠ %s: %s", r.Server, mdEscape(e))
			}
		}
		for _, n := range s.Notes {
			fmt.Fprintf(ew, "\n- %s", mdEscape(n))
		}
		fmt.Fprintln(ew)
	}
	if len(run.Targets) > 0 {
		fmt.Fprintf(ew, "\n## Targets\n\n")
		rows := make([][]string, len(run.Targets))
		for i, t := range run.Targets {
			rows[i] = targetRow(t)
		}
		writeMDTable(ew, []string{"target", "goal", "measured", "status", "detail"}, rows)
	}
	fmt.Fprintf(ew, "\n## Legend\n\n")
	for _, l := range legendLines(run) {
		fmt.Fprintf(ew, "- %s\n", mdEscape(l))
	}
	if len(run.Notes) > 0 {
		fmt.Fprintf(ew, "\n## Notes\n\n")
		for _, n := range run.Notes {
			fmt.Fprintf(ew, "- %s\n", mdEscape(n))
		}
	}
	return ew.err
}

func writeMDTable(w io.Writer, header []string, rows [][]string) {
	esc := func(cells []string) string {
		out := make([]string, len(cells))
		for i, c := range cells {
			out[i] = mdEscape(c)
		}
		return "| " + strings.Join(out, " | ") + " |"
	}
	fmt.Fprintln(w, esc(header))
	seps := make([]string, len(header))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintln(w, "|"+strings.Join(seps, "|")+"|")
	for _, r := range rows {
		fmt.Fprintln(w, esc(r))
	}
}

// mdEscape keeps a cell's pipes from breaking the table.
func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
