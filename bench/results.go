package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/sockactor/sockactor/bench/internal/report"
)

// Where a run's results go: latest.json, latest.md and latest.svg, in -out
// or in a directory of the user's own outside the repository.

// writeResults writes latest.json, latest.md and latest.svg to dir, or to
// defaultResultsDir when dir is empty, and names them on stderr.
func writeResults(dir string, run *report.Run, stderr io.Writer) error {
	if dir == "" {
		dir = defaultResultsDir()
		if err := ownDir(dir); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	jsonPath := filepath.Join(dir, "latest.json")
	if err := report.WriteJSON(jsonPath, run); err != nil {
		return err
	}
	mdPath := filepath.Join(dir, "latest.md")
	f, err := os.Create(mdPath)
	if err != nil {
		return err
	}
	if err := report.WriteMarkdown(f, run); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	written := []string{jsonPath, mdPath}
	svgPath := filepath.Join(dir, "latest.svg")
	switch err := report.WriteChart(svgPath, run); {
	case errors.Is(err, report.ErrNothingToChart):
	case err != nil:
		return err
	default:
		written = append(written, svgPath)
	}
	fmt.Fprintf(stderr, "results: %v\n", written)
	return nil
}

// defaultResultsDir is where a run writes its results when -out does not
// name a directory: one of this user's under the system's temporary
// directory, outside any repository, so that a plain run leaves the
// working tree as it found it. The name is the same on every run, so each
// run replaces the last one's files.
func defaultResultsDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("sockactor-bench-%d", os.Getuid()))
}

// ownDir makes dir (mode 0700) unless it exists, and checks that it is a
// directory of this user's and not a link: a name that is the same on
// every run, in a directory every user writes to, could have been made by
// someone else first.
func ownDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s is not a directory of this user's (use -out DIR)", dir)
	}
	return nil
}
