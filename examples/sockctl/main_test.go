package main

import (
	"bufio"
	"encoding/json"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
)

// TestMain fails the package if any goroutine outlives the tests. The only
// exceptions are the two goroutines of ants' package-level default pool
// (github.com/panjf2000/ants/v2, a gnet dependency): ants starts them from
// its package initialisation, before any test, and they live for the
// process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, socktest.LeakOptions()...)
}

// waitTimeout bounds every wait of these tests: a read, an event, a poll.
const waitTimeout = 5 * time.Second

// modes are the dispatch modes every scenario runs under.
var modes = []actors.Dispatch{actors.Inline, actors.Pooled}

// ---- the command entry point ----

// TestRun runs the command as main does, with a cancellable context in
// place of the signals.
func TestRun(t *testing.T) {
	out := newSink()
	cmd := socktest.StartCommand(t, run, []string{"-listen", "127.0.0.1:0", "-dispatch", "pooled", "-ban-policy", "discard"}, out.Lines)
	conn, err := net.DialTimeout("tcp", cmd.Addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: t, conn: conn.(*net.TCPConn), r: bufio.NewReader(conn)}
	c.send("INFO\n")
	line, err := c.readLine()
	if err != nil {
		t.Fatal(err)
	}
	var in infoLine
	if err := json.Unmarshal([]byte(line), &in); err != nil || in.Dispatch != "pooled" || in.BanPolicy != "discard" {
		t.Fatalf("INFO = %q (%v), want pooled and discard", line, err)
	}
	out.waitEvent(t, "FD_ACCEPT", in.Socket)

	cmd.Stop(t) // as SIGINT would
	// The shutdown close was printed before run returned.
	lines, _ := out.Snapshot()
	ev, err := parseEvent(lines[len(lines)-1])
	if err != nil || ev.Kind != "FD_CLOSE" || ev.Socket != in.Socket || ev.Reason != "shutdown" || ev.Code != 10050 {
		t.Fatalf("last line %q (%v), want FD_CLOSE 10050 shutdown of socket %d", lines[len(lines)-1], err, in.Socket)
	}
	c.expectEOF()
}

// TestRunErrors checks that bad arguments and an unusable address are
// errors, not panics, and leave nothing running.
func TestRunErrors(t *testing.T) {
	socktest.CheckRunErrors(t, run, [][]string{
		{"-dispatch", "bogus"},
		{"-ban-policy", "bogus"},
		{"-nosuchflag"},
		{"extra"},
		{"-listen", "127.0.0.1:notaport"},
		{"-listen", socktest.BusyAddr(t)},
	})
}
