package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/internal/socktest"
)

// childEnv names the command line a re-executed test binary runs as the
// example command (a second and third process: gateway, watchers).
const childEnv = "SOCKACTOR_REMOTE_EXAMPLE_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		main2(strings.Split(args, "\x1f"))
		return
	}
	goleak.VerifyTestMain(m, socktest.LeakOptions()...)
}

// main2 is main with the arguments given.
func main2(args []string) {
	os.Args = append([]string{"remote"}, args...)
	main()
	os.Exit(0)
}

// waitTimeout bounds every wait.
const waitTimeout = 10 * time.Second

// child is the example command running in a process of its own.
type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	lines []string
	times []time.Time   // when each line was read
	added chan struct{} // closed and replaced on each line
	done  chan struct{} // closed when stdout ends
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// Under -race a process sleeps 1 s at exit by default: the exit times
	// measured here are the command's own.
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, "\x1f"),
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, stdin: stdin, added: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			c.times = append(c.times, time.Now())
			close(c.added)
			c.added = make(chan struct{})
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	return c
}

// wait returns the first line from index from on that matches, failing
// after waitTimeout.
func (c *child) wait(from int, what string, match func(string) bool) (int, string) {
	c.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		c.mu.Lock()
		lines, added := c.lines, c.added
		c.mu.Unlock()
		for i := from; i < len(lines); i++ {
			if match(lines[i]) {
				return i, lines[i]
			}
		}
		select {
		case <-added:
		case <-c.done:
			c.mu.Lock()
			n := len(c.lines)
			c.mu.Unlock()
			if n == len(lines) {
				c.t.Fatalf("stdout ended waiting for %s; lines: %q", what, lines)
			}
		case <-deadline:
			c.t.Fatalf("timed out waiting for %s; lines: %q", what, lines)
		}
	}
}

func (c *child) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		c.t.Fatal(err)
	}
}

// stop sends sig and waits for the process; it returns the exit code.
func (c *child) stop(sig os.Signal) int {
	c.t.Helper()
	_ = c.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(3 * waitTimeout):
		_ = c.cmd.Process.Kill()
		c.t.Fatalf("%v: process did not exit", sig)
	}
	return c.cmd.ProcessState.ExitCode()
}

var (
	listeningLine = regexp.MustCompile(`^listening 127\.0\.0\.1:[0-9]+$`)
	remoteLine    = regexp.MustCompile(`^remote 127\.0\.0\.1:[0-9]+$`)
)

type snapshotLine struct {
	Kind    string   `json:"kind"`
	Sockets []uint64 `json:"sockets"`
	Seq     uint64   `json:"seq"`
}

type evLine struct {
	Kind   string `json:"kind"`
	Socket uint64 `json:"socket"`
	Code   uint32 `json:"code"`
	Reason string `json:"reason"`
	Remote string `json:"remote"`
	Seq    uint64 `json:"seq"`
}

// startGateway runs the gateway in its own process and returns it with
// its TCP and remote addresses.
func startGateway(t *testing.T, dispatch string) (*child, string, string) {
	t.Helper()
	return startGatewayAt(t, dispatch, "127.0.0.1:0")
}

// startGatewayAt is startGateway with the gateway's remote address given
// (a fixed one: a gateway that comes back where the last one was).
func startGatewayAt(t *testing.T, dispatch, remote string) (*child, string, string) {
	t.Helper()
	gw := startChild(t, "gateway", "-listen", "127.0.0.1:0", "-remote", remote, "-dispatch", dispatch)
	_, first := gw.wait(0, "the listening line", func(string) bool { return true })
	if !listeningLine.MatchString(first) {
		t.Fatalf("first gateway line %q", first)
	}
	_, second := gw.wait(1, "the remote line", func(string) bool { return true })
	if !remoteLine.MatchString(second) {
		t.Fatalf("second gateway line %q", second)
	}
	return gw, strings.TrimPrefix(first, "listening "), strings.TrimPrefix(second, "remote ")
}

func startWatch(t *testing.T, gatewayRemote string) (*child, snapshotLine) {
	t.Helper()
	w := startChild(t, "watch", "-gateway", gatewayRemote, "-remote", "127.0.0.1:0")
	_, first := w.wait(0, "the snapshot", func(string) bool { return true })
	var s snapshotLine
	if err := json.Unmarshal([]byte(first), &s); err != nil || s.Kind != "SNAPSHOT" || s.Sockets == nil {
		t.Fatalf("first watch line %q (%v)", first, err)
	}
	return w, s
}

// event waits for the watcher's first event line from index from that
// matches, and decodes it.
func event(t *testing.T, w *child, from int, what string, match func(evLine) bool) (int, evLine) {
	t.Helper()
	var ev evLine
	i, _ := w.wait(from, what, func(l string) bool {
		var e evLine
		if json.Unmarshal([]byte(l), &e) != nil || !strings.HasPrefix(e.Kind, "FD_") || !match(e) {
			return false
		}
		ev = e
		return true
	})
	return i, ev
}

func dialEcho(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q, %v", buf, err)
	}
	return c
}

// TestGatewayAndWatchersInTheirOwnProcesses: the gateway and two watchers
// each in a process; the first watcher follows, drives sockets over remote
// and is killed with SIGKILL; the gateway serves on and a second watcher's
// snapshot is exact.
func TestGatewayAndWatchersInTheirOwnProcesses(t *testing.T) {
	for _, dispatch := range []string{"inline", "pooled"} {
		t.Run(dispatch, func(t *testing.T) { gatewayAndWatchers(t, dispatch) })
	}
}

func gatewayAndWatchers(t *testing.T, dispatch string) {
	gw, tcpAddr, remoteAddr := startGateway(t, dispatch)
	before := []net.Conn{dialEcho(t, tcpAddr), dialEcho(t, tcpAddr), dialEcho(t, tcpAddr)}

	w1, snap1 := startWatch(t, remoteAddr)
	if len(snap1.Sockets) != len(before) {
		t.Fatalf("first snapshot %v, want %d sockets", snap1, len(before))
	}
	open := map[uint64]bool{}
	for _, id := range snap1.Sockets {
		open[id] = true
	}

	c4 := dialEcho(t, tcpAddr)
	at, acc4 := event(t, w1, 1, "FD_ACCEPT of the new client", func(e evLine) bool {
		return e.Kind == "FD_ACCEPT" && e.Remote == c4.LocalAddr().String()
	})
	if acc4.Seq <= snap1.Seq || open[acc4.Socket] {
		t.Fatalf("FD_ACCEPT %+v after a snapshot at seq %d of %v", acc4, snap1.Seq, snap1.Sockets)
	}
	id4 := strconv.FormatUint(acc4.Socket, 10)

	// SHUTRD over remote, then the client's next bytes reset it (the
	// default ban policy).
	w1.send("SHUTRD " + id4)
	at, _ = w1.wait(at, "OK SHUTRD", func(l string) bool { return l == "OK SHUTRD "+id4 })
	_, _ = c4.Write([]byte("banned"))
	_, cl4 := event(t, w1, at, "FD_CLOSE recv-ban", func(e evLine) bool { return e.Kind == "FD_CLOSE" && e.Socket == acc4.Socket })
	if cl4.Code != 10053 || cl4.Reason != "recv-ban" || cl4.Seq <= acc4.Seq {
		t.Fatalf("FD_CLOSE after the ban: %+v", cl4)
	}

	closed := snap1.Sockets[0]
	w1.send("CLOSE " + strconv.FormatUint(closed, 10))
	at, _ = w1.wait(at, "OK CLOSE", func(l string) bool { return l == "OK CLOSE "+strconv.FormatUint(closed, 10) })
	_, clx := event(t, w1, 0, "FD_CLOSE local-close", func(e evLine) bool { return e.Kind == "FD_CLOSE" && e.Socket == closed })
	if clx.Reason != "local-close" {
		t.Fatalf("FD_CLOSE after CLOSE: %+v", clx)
	}
	delete(open, closed)
	for _, cmd := range []string{"SHUTRD 999999", "CLOSE 999999", "CLOSE " + strconv.FormatUint(closed, 10), "HELLO"} {
		w1.send(cmd)
		var l string
		at, l = w1.wait(at+1, "the answer to "+cmd, func(l string) bool { return strings.HasPrefix(l, "ERR ") || strings.HasPrefix(l, "OK ") })
		want := "ERR WSAENOTSOCK 10038"
		if cmd == "HELLO" {
			want = "ERR WSAEINVAL 10022 unknown command"
		}
		if l != want {
			t.Fatalf("%s: %q, want %q", cmd, l, want)
		}
	}

	// The end of stdin stops nothing: events still come.
	_ = w1.stdin.Close()
	c5 := dialEcho(t, tcpAddr)
	_, acc5 := event(t, w1, 0, "FD_ACCEPT after stdin closed", func(e evLine) bool {
		return e.Kind == "FD_ACCEPT" && e.Remote == c5.LocalAddr().String()
	})
	open[acc5.Socket] = true

	// SIGKILL: no goodbye to the gateway, which serves on.
	w1.stop(syscall.SIGKILL)
	c6 := dialEcho(t, tcpAddr)
	for _, c := range append(before[1:], c5) {
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("echo after the watcher died: %v", err)
		}
	}

	w2, snap2 := startWatch(t, remoteAddr)
	if len(snap2.Sockets) != len(open)+1 {
		t.Fatalf("second snapshot %v; want %v and the client opened after the kill", snap2.Sockets, open)
	}
	for _, id := range snap2.Sockets {
		if !open[id] && id <= acc5.Socket {
			t.Fatalf("second snapshot %v has %d, not open (want %v + one new)", snap2.Sockets, id, open)
		}
	}
	if snap2.Seq <= cl4.Seq {
		t.Fatalf("second snapshot at seq %d, before events the first watcher saw (%d)", snap2.Seq, cl4.Seq)
	}
	_ = c6
	if code := w2.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("watch exit code %d after SIGTERM", code)
	}
	if code := gw.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("gateway exit code %d after SIGTERM", code)
	}
	gw.mu.Lock()
	defer gw.mu.Unlock()
	if len(gw.lines) != 2 {
		t.Errorf("gateway stdout %q, want its two lines only", gw.lines)
	}
}

type downLine struct {
	Kind    string `json:"kind"`
	Gateway string `json:"gateway"`
	Seq     uint64 `json:"seq"`
}

// isDown reports whether l is a GATEWAY_DOWN line.
func isDown(l string) bool {
	var d downLine
	return json.Unmarshal([]byte(l), &d) == nil && d.Kind == "GATEWAY_DOWN"
}

// stopTimed stops c with sig, failing unless it exits with 0 within
// stopBound, and returns how long that took.
func stopTimed(t *testing.T, c *child, sig os.Signal) time.Duration {
	t.Helper()
	start := time.Now()
	code := c.stop(sig)
	took := time.Since(start)
	if code != 0 {
		t.Errorf("exit code %d after %v", code, sig)
	}
	if took > stopBound {
		t.Errorf("%v: watch took %v to exit, want well under 1 s (bound %v)", sig, took, stopBound)
	}
	return took
}

// stopBound is the generous bound on a watcher's exit after a signal.
const stopBound = 2 * time.Second

// TestWatchFollowsAGatewayThatRestarts: the gateway dies by SIGKILL; the
// watcher prints GATEWAY_DOWN at once (with the last seq it saw), answers
// commands with WSAENETDOWN, and when a new gateway comes up on the same
// remote address prints a fresh SNAPSHOT, follows its events and drives
// its sockets.
func TestWatchFollowsAGatewayThatRestarts(t *testing.T) {
	gw, tcpAddr, remoteAddr := startGateway(t, "inline")
	_ = dialEcho(t, tcpAddr)
	w, snap := startWatch(t, remoteAddr)
	if len(snap.Sockets) != 1 {
		t.Fatalf("snapshot %+v, want one socket", snap)
	}
	c2 := dialEcho(t, tcpAddr)
	at, acc2 := event(t, w, 1, "FD_ACCEPT before the kill", func(e evLine) bool {
		return e.Kind == "FD_ACCEPT" && e.Remote == c2.LocalAddr().String()
	})

	killed := time.Now()
	gw.stop(syscall.SIGKILL)
	at, l := w.wait(at+1, "GATEWAY_DOWN", isDown)
	took := time.Since(killed)
	t.Logf("GATEWAY_DOWN %v after the SIGKILL", took)
	if took > 2*time.Second {
		t.Errorf("GATEWAY_DOWN came %v after the gateway died", took)
	}
	var down downLine
	if err := json.Unmarshal([]byte(l), &down); err != nil || down.Gateway != remoteAddr || down.Seq != acc2.Seq {
		t.Fatalf("down line %q; want gateway %s, seq %d (the last event's)", l, remoteAddr, acc2.Seq)
	}
	for _, cmd := range []string{"CLOSE " + strconv.FormatUint(acc2.Socket, 10), "SHUTRD 1"} {
		w.send(cmd)
		at, l = w.wait(at+1, "the answer to "+cmd+" while down", func(l string) bool { return strings.HasPrefix(l, "ERR ") || strings.HasPrefix(l, "OK ") })
		if l != "ERR WSAENETDOWN 10050 gateway down" {
			t.Fatalf("%s while down: %q", cmd, l)
		}
	}

	// A new gateway where the last one was: a fresh snapshot (no sockets,
	// seq 0: a new runtime), then its events, and commands work again.
	gw2, tcpAddr2, remote2 := startGatewayAt(t, "inline", remoteAddr)
	if remote2 != remoteAddr {
		t.Fatalf("new gateway at %s, want %s", remote2, remoteAddr)
	}
	var snap2 snapshotLine
	at, l = w.wait(at+1, "the new SNAPSHOT", func(l string) bool {
		return json.Unmarshal([]byte(l), &snap2) == nil && snap2.Kind == "SNAPSHOT"
	})
	if snap2.Sockets == nil || len(snap2.Sockets) != 0 || snap2.Seq != 0 {
		t.Fatalf("new snapshot %q, want no sockets at seq 0", l)
	}
	c3 := dialEcho(t, tcpAddr2)
	at, acc3 := event(t, w, at+1, "FD_ACCEPT of the new gateway", func(e evLine) bool {
		return e.Kind == "FD_ACCEPT" && e.Remote == c3.LocalAddr().String()
	})
	id3 := strconv.FormatUint(acc3.Socket, 10)
	w.send("SHUTRD " + id3)
	at, _ = w.wait(at+1, "OK SHUTRD", func(l string) bool { return l == "OK SHUTRD "+id3 })
	_, _ = c3.Write([]byte("banned"))
	_, cl3 := event(t, w, at, "FD_CLOSE recv-ban", func(e evLine) bool { return e.Kind == "FD_CLOSE" && e.Socket == acc3.Socket })
	if cl3.Reason != "recv-ban" || cl3.Seq <= acc3.Seq {
		t.Fatalf("FD_CLOSE after the ban: %+v", cl3)
	}
	w.send("CLOSE 999999")
	_, l = w.wait(at+1, "the answer to CLOSE 999999", func(l string) bool { return strings.HasPrefix(l, "ERR ") })
	if l != "ERR WSAENOTSOCK 10038" {
		t.Fatalf("CLOSE 999999: %q", l)
	}

	stopTimed(t, w, syscall.SIGTERM)
	if code := gw2.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("gateway exit code %d after SIGTERM", code)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, l := range w.lines {
		if isDown(l) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d GATEWAY_DOWN lines, want 1: %q", n, w.lines)
	}
}

// TestWatchStopsPromptly: SIGINT ends watch well under a second whatever
// the gateway's state: followed, killed an instant before, dead for a
// while (watch retrying).
func TestWatchStopsPromptly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kill  bool
		pause time.Duration // between the kill and the signal
	}{
		{"following", false, 0},
		{"just-killed", true, 0},
		{"gateway-dead", true, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw, tcpAddr, remoteAddr := startGateway(t, "inline")
			_ = dialEcho(t, tcpAddr)
			w, _ := startWatch(t, remoteAddr)
			if tc.kill {
				gw.stop(syscall.SIGKILL)
			}
			if tc.pause > 0 {
				// Dead a while: from the watcher's GATEWAY_DOWN on, not
				// from the kill (a loaded machine may take longer than
				// the pause to notice).
				w.wait(1, "GATEWAY_DOWN", isDown)
				time.Sleep(tc.pause)
			}
			took := stopTimed(t, w, syscall.SIGINT)
			t.Logf("watch exited %v after SIGINT", took)
			if tc.pause > 0 {
				w.mu.Lock()
				lines := w.lines
				w.mu.Unlock()
				if len(lines) != 2 || !isDown(lines[1]) {
					t.Errorf("watch printed %q, want its snapshot and GATEWAY_DOWN", lines)
				}
			}
			if !tc.kill {
				if code := gw.stop(syscall.SIGTERM); code != 0 {
					t.Errorf("gateway exit code %d after SIGTERM", code)
				}
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"bogus"},
		{"gateway", "-dispatch", "sideways"},
		{"gateway", "-remote", "0.0.0.0:0"},
		{"gateway", "extra"},
		{"watch"},
		{"watch", "-gateway", "127.0.0.1:1", "extra"},
		{"watch", "-gateway", "127.0.0.1:1", "-etcd", "http://127.0.0.1:1"},
		{"etcd"},
		{"gateway", "-etcd", "http://127.0.0.1:1", "-ttl", "10ms"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		err := run(ctx, args, strings.NewReader(""), io.Discard, io.Discard)
		cancel()
		if err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestHelp runs the command in a process of its own with -h, help and a
// subcommand's -h: each prints its usage on stderr, nothing on stdout, and
// exits 0. Without a command, run prints the usage and fails.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"-h"}, 0, "usage: remote gateway|watch"},
		{[]string{"-help"}, 0, "usage: remote gateway|watch"},
		{[]string{"--help"}, 0, "usage: remote gateway|watch"},
		{[]string{"help"}, 0, "usage: remote gateway|watch"},
		{[]string{"gateway", "-h"}, 0, "-listen"},
		{[]string{"watch", "-h"}, 0, "-gateway"},
		{[]string{"watch", "-h"}, 0, "-etcd"},
		{[]string{"etcd", "-h"}, 0, "-dir"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(tc.args, "\x1f"))
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if code != tc.code || stdout.Len() != 0 || !strings.Contains(stderr.String(), tc.inStderr) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d, no stdout, %q on stderr",
				tc.args, code, stdout.String(), stderr.String(), tc.code, tc.inStderr)
		}
	}

	var stderr strings.Builder
	err := run(context.Background(), nil, strings.NewReader(""), io.Discard, &stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "usage: remote gateway|watch") {
		t.Errorf("no arguments: %v, stderr %q; want an error and the usage", err, stderr.String())
	}
}
