package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is one process started by the harness: a server or a load
// generator. It runs in its own process group so that stopping it also
// stops anything it started, and it has a pipe on its standard input whose
// closing (even by our death) tells it to exit.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *lineWriter
	stderr *tailBuffer
	done   chan struct{}
	err    error // Wait's result, valid after done is closed
}

// children tracks every live child so that the harness can kill them all on
// its way out, whatever the path.
type children struct {
	mu  sync.Mutex
	set map[*child]struct{}
}

func (cs *children) add(c *child) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.set == nil {
		cs.set = make(map[*child]struct{})
	}
	cs.set[c] = struct{}{}
}

func (cs *children) remove(c *child) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.set, c)
}

// killAll kills the process group of every child still running and waits
// for them.
func (cs *children) killAll() {
	cs.mu.Lock()
	all := make([]*child, 0, len(cs.set))
	for c := range cs.set {
		all = append(all, c)
	}
	cs.mu.Unlock()
	for _, c := range all {
		c.kill()
		<-c.done
		cs.remove(c)
	}
}

// startChild starts exe with args. The child is killed (with its process
// group) when ctx is done.
func (cs *children) startChild(ctx context.Context, exe string, args []string, env ...string) (*child, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c := &child{cmd: cmd, stdout: newLineWriter(), stderr: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
	cmd.Cancel = func() error {
		c.kill()
		return nil
	}
	cmd.WaitDelay = 3 * time.Second
	cmd.Stdout = c.stdout
	cmd.Stderr = c.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	c.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	cs.add(c)
	go func() {
		c.err = cmd.Wait()
		c.stdout.close()
		close(c.done)
		cs.remove(c)
	}()
	return c, nil
}

// pid returns the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// kill sends SIGKILL to the child's process group.
func (c *child) kill() {
	if c.cmd.Process != nil {
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// stop asks the child to exit (stdin closed, SIGTERM to its group), and
// kills it if it is still there after grace. It returns the child's exit
// error, nil for a clean exit.
func (c *child) stop(grace time.Duration) error {
	_ = c.stdin.Close()
	if c.cmd.Process != nil {
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
		if terminatedBy(c.err, syscall.SIGTERM) {
			// Ended by the very signal we sent (it can arrive after the
			// child, already stopping on its closed stdin, restored the
			// default handler): that is the stop we asked for.
			return nil
		}
		return c.err
	case <-t.C:
		c.kill()
		<-c.done
		return fmt.Errorf("did not exit within %v of SIGTERM: killed", grace)
	}
}

// terminatedBy reports whether err is an exit caused by signal sig.
func terminatedBy(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// describeExit returns the exit error with the tail of stderr.
func (c *child) describeExit() string {
	msg := "exited"
	if c.err != nil {
		msg = c.err.Error()
	}
	if tail := strings.TrimSpace(c.stderr.String()); tail != "" {
		lines := strings.Split(tail, "\n")
		if len(lines) > 5 {
			lines = lines[len(lines)-5:]
		}
		msg += ": " + strings.Join(lines, " | ")
	}
	return msg
}

// lineWriter is a child's stdout: it hands complete lines to whoever waits
// for them (at most a few hundred are kept; the rest is dropped) and keeps
// the last line that looks like JSON.
type lineWriter struct {
	mu       sync.Mutex
	partial  []byte
	lines    chan string
	lastJSON string
	closed   bool
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 256)} }

// Write implements io.Writer.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(w.partial[:i]), "\r")
		w.partial = w.partial[i+1:]
		if strings.HasPrefix(line, "{") {
			w.lastJSON = line
		}
		select {
		case w.lines <- line:
		default:
		}
	}
	if len(w.partial) > 1<<20 {
		w.partial = w.partial[:0]
	}
	return len(p), nil
}

func (w *lineWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.lines)
	}
}

// json returns the last JSON line written.
func (w *lineWriter) json() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastJSON
}

// errNoLine is returned by waitPrefix when the child ends or the wait times
// out without the expected line.
var errNoLine = errors.New("expected line not seen")

// waitPrefix returns the rest of the first line starting with prefix,
// skipping other lines (a library may print before the protocol line).
func (w *lineWriter) waitPrefix(ctx context.Context, prefix string, timeout time.Duration) (string, error) {
	_, rest, err := w.waitAny(ctx, timeout, prefix)
	return rest, err
}

// waitAny is waitPrefix for the first line starting with any of prefixes:
// it returns the prefix found and the rest of its line.
func (w *lineWriter) waitAny(ctx context.Context, timeout time.Duration, prefixes ...string) (string, string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case line, ok := <-w.lines:
			if !ok {
				return "", "", fmt.Errorf("%w: %q (process ended)", errNoLine, prefixes)
			}
			for _, prefix := range prefixes {
				if rest, found := strings.CutPrefix(line, prefix); found {
					return prefix, strings.TrimSpace(rest), nil
				}
			}
		case <-t.C:
			return "", "", fmt.Errorf("%w: %q within %v", errNoLine, prefixes, timeout)
		case <-ctx.Done():
			return "", "", ctx.Err()
		}
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

// Write implements io.Writer.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns what is kept.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
