package socktest

import (
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// This file is what the tests of the example commands (examples/sockctl,
// examples/pull) share: each command prints "listening <host:port>" as its
// first stdout line (or "listening <path>" on a unix socket), has a server
// type with Addr and Shutdown, and a run function that is main minus the
// signals.

// RunFunc is an example command's entry point: main's work, with ctx in
// place of the signals.
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// listeningRE is the first stdout line of a command listening on loopback,
// or on a unix socket (an absolute path).
var listeningRE = regexp.MustCompile(`^listening (127\.0\.0\.1:[0-9]+|/[^\s]+)$`)

// CheckListening checks that lines, a server's whole stdout, begin with
// its "listening <addr>" line.
func CheckListening(tb testing.TB, lines []string, addr string) {
	tb.Helper()
	if len(lines) == 0 {
		tb.Fatal("nothing on stdout")
	}
	if want := "listening " + addr; !listeningRE.MatchString(lines[0]) || lines[0] != want {
		tb.Fatalf("first stdout line = %q, want %q", lines[0], want)
	}
}

// Server is an example's server under test: listening on Addr, stopped by
// Shutdown, which returns once everything is printed.
type Server interface {
	Addr() string
	Shutdown(ctx context.Context) error
}

// Running is a Server started by StartServer.
type Running[S Server] struct {
	// Srv is the server.
	Srv S

	tb      testing.TB
	stopped bool
}

// StartServer starts a server with start, its context bounded by Timeout,
// and fails tb if that fails. At cleanup (after the cleanups registered
// later, such as the clients' closes) it shuts the server down and then
// calls check, if not nil, to look at what the server printed.
func StartServer[S Server](tb testing.TB, start func(ctx context.Context) (S, error), check func()) *Running[S] {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	srv, err := start(ctx)
	if err != nil {
		tb.Fatalf("startServer: %v", err)
	}
	r := &Running[S]{Srv: srv, tb: tb}
	tb.Cleanup(func() {
		r.Shutdown()
		if check != nil {
			check()
		}
	})
	return r
}

// Shutdown stops the server, the first time it is called.
func (r *Running[S]) Shutdown() {
	r.tb.Helper()
	if r.stopped {
		return
	}
	r.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*Timeout)
	defer cancel()
	if err := r.Srv.Shutdown(ctx); err != nil {
		r.tb.Errorf("Shutdown: %v", err)
	}
}

// Command is an example command running as main runs it, with a
// cancellable context in place of the signals.
type Command struct {
	// Addr is the address of its "listening" line.
	Addr string

	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// StartCommand runs run(ctx, args, stdout, io.Discard) in a goroutine and
// waits for its first stdout line, which must be a "listening" line. If
// the test ends without Stop, a cleanup cancels the command and waits for
// it.
func StartCommand(tb testing.TB, run RunFunc, args []string, stdout *Lines) *Command {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Command{cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- run(ctx, args, stdout, io.Discard) }()
	tb.Cleanup(func() {
		cancel()
		if !c.stopped {
			select {
			case <-c.done:
			case <-time.After(2 * Timeout):
				tb.Errorf("run did not return after cancel")
			}
		}
	})
	first := stdout.WaitLine(tb, "listening", func(string) bool { return true })
	if !listeningRE.MatchString(first) {
		tb.Fatalf("first line %q", first)
	}
	c.Addr = strings.TrimPrefix(first, "listening ")
	return c
}

// Stop cancels the command, as SIGINT would, and checks that run returns
// nil.
func (c *Command) Stop(tb testing.TB) {
	tb.Helper()
	c.stopped = true
	c.cancel()
	select {
	case err := <-c.done:
		if err != nil {
			tb.Fatalf("run: %v", err)
		}
	case <-time.After(2 * Timeout):
		tb.Fatal("run did not return after cancel")
	}
}

// CheckRunErrors runs the command with each of argsList and checks that
// every one is an error, not a panic, that prints nothing on stdout: bad
// arguments, an unusable address.
func CheckRunErrors(tb testing.TB, run RunFunc, argsList [][]string) {
	tb.Helper()
	for _, args := range argsList {
		out := NewLines()
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		err := run(ctx, args, out, io.Discard)
		cancel()
		if err == nil {
			tb.Errorf("run %q: no error", args)
		}
		if lines, _ := out.Snapshot(); len(lines) != 0 {
			tb.Errorf("run %q printed %q", args, lines)
		}
	}
}

// BusyAddr returns the address of a listener that accepts nothing and is
// closed when the test ends: an address a command cannot listen on.
func BusyAddr(tb testing.TB) string {
	tb.Helper()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { busy.Close() })
	return busy.Addr().String()
}
