package socktest

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// Lines is an io.Writer that collects complete lines (a command's stdout,
// say) and wakes waiters on each new one. Safe for concurrent use.
type Lines struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{} // closed and replaced when a line is added
}

// NewLines returns an empty Lines.
func NewLines() *Lines { return &Lines{changed: make(chan struct{})} }

// Write implements io.Writer.
func (s *Lines) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.lines = append(s.lines, string(s.partial[:i]))
		s.partial = s.partial[i+1:]
		added = true
	}
	if added {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	return len(p), nil
}

// Snapshot returns the complete lines so far, and a channel closed when
// another arrives.
func (s *Lines) Snapshot() ([]string, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...), s.changed
}

// WaitLine waits until some line satisfies match and returns the first one;
// after Timeout it fails tb, showing every line seen.
func (s *Lines) WaitLine(tb testing.TB, what string, match func(string) bool) string {
	tb.Helper()
	deadline := time.NewTimer(Timeout)
	defer deadline.Stop()
	for {
		lines, changed := s.Snapshot()
		for _, l := range lines {
			if match(l) {
				return l
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			tb.Fatalf("no line for %s within %v; lines so far:\n%s", what, Timeout, strings.Join(lines, "\n"))
			return ""
		}
	}
}
