package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes the human table of a run: one block per scenario, then
// the targets and notes.
func WriteText(w io.Writer, run *Run) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "sockactor bench — suite %s, %d rounds interleaved, median [min–max]", run.Suite, run.Rounds)
	if run.Baseline != "" {
		fmt.Fprintf(ew, ", ×%s = ratio to %s paired round by round", run.Baseline, run.Baseline)
	}
	fmt.Fprintf(ew, "\n%s, %d cores, %s, kernel %s, commit %s, %.0f s\n",
		run.Machine.CPUModel, run.Machine.Cores, run.Machine.GoVersion, run.Machine.Kernel, run.Commit, run.Elapsed)
	for i := range run.Scenarios {
		s := &run.Scenarios[i]
		fmt.Fprintf(ew, "\n== %s\n", s.Title)
		header, rows := columns(s, run.Baseline)
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(header, "\t"))
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, r := range s.Results {
			if r.Unavailable != "" {
				fmt.Fprintf(ew, "   - %s: unavailable: %s\n", r.Server, r.Unavailable)
			}
			for _, e := range r.Errors {
				fmt.Fprintf(ew, "   ! %s: %s\n", r.Server, e)
			}
		}
		for _, n := range s.Notes {
			fmt.Fprintf(ew, "   note: %s\n", n)
		}
	}
	if len(run.Targets) > 0 {
		fmt.Fprintf(ew, "\n== targets\n")
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "target\tgoal\tmeasured\tstatus\t")
		for _, t := range run.Targets {
			fmt.Fprintln(tw, strings.Join(targetRow(t), "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(ew, "\nlegend:\n")
	for _, l := range legendLines(run) {
		fmt.Fprintf(ew, "  %s\n", l)
	}
	for _, n := range run.Notes {
		fmt.Fprintf(ew, "note: %s\n", n)
	}
	return ew.err
}

// errWriter remembers the first write error so the formatting code can
// stay linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
