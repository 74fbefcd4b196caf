package main

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// progress prints the live progress line of the running scenario on
// stderr: rewritten in place on a terminal, a line per scenario otherwise
// (and a line per run with -v).
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	verbose bool
}

func newProgress(w io.Writer, verbose bool) *progress {
	p := &progress{w: w, verbose: verbose}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// update shows the current state of the running scenario.
func (p *progress) update(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	case p.verbose:
		fmt.Fprintln(p.w, line)
	}
}

// done ends the scenario's progress line.
func (p *progress) done(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s\n", line)
		return
	}
	fmt.Fprintln(p.w, line)
}
