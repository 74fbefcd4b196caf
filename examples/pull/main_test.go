package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/winsock"
)

// TestMain fails the package if any goroutine outlives the tests, except
// those of ants' package-level pool (a gnet dependency), which live for the
// process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, socktest.LeakOptions()...)
}

// waitTimeout bounds every wait of these tests: a read, a line, a poll.
const waitTimeout = 10 * time.Second

// modes are the dispatch modes the servers under test run in.
var modes = []actors.Dispatch{actors.Inline, actors.Pooled}

// testMax is the -max of the tests: small, so that most writes need more
// than one Recv.
const testMax = 64

// TestShutdownClosesOpenSockets checks that a socket still open at
// shutdown is finished and printed before Shutdown returns.
func TestShutdownClosesOpenSockets(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		e := newEnv(t, d)
		c := e.dial(t)
		c.write("still here\n" + bigChunk)
		c.expect(strings.ToUpper("still here\n" + bigChunk))
		e.shutdown()
		// Printed before Shutdown returned: no wait.
		var got []summary
		lines, _ := e.out.Snapshot()
		for _, l := range lines[1:] {
			if s, err := parseSummary(l); err == nil && s.Socket == c.id {
				got = append(got, s)
			}
		}
		want := uint64(len("still here\n" + bigChunk))
		if len(got) != 1 || got[0].Bytes != want || got[0].Lines != 41 || got[0].CloseReason != "shutdown" {
			t.Fatalf("socket lines %+v, want one with %d bytes, 41 lines, close_reason shutdown", got, want)
		}
		// The socket was released by the shutdown: RecvDisconnect
		// gets WSAENOTSOCK (released) or WSAENETDOWN (engine down).
		if code := winsock.Code(got[0].RecvDisconnectCode); code != winsock.WSAENOTSOCK && code != winsock.WSAENETDOWN {
			t.Fatalf("recv_disconnect_code %d, want %d or %d", code, winsock.WSAENOTSOCK, winsock.WSAENETDOWN)
		}
		c.expectEOF()
	})
}

// TestRun runs the command as main does, with a cancellable context in
// place of the signals.
func TestRun(t *testing.T) {
	out := newSink()
	cmd := socktest.StartCommand(t, run, []string{"-listen", "127.0.0.1:0", "-dispatch", "pooled", "-max", "5", "-loops", "1"}, out.Lines)
	conn, err := net.DialTimeout("tcp", cmd.Addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: t, conn: conn.(*net.TCPConn)}
	c.write("abc\ndefghijklmnop\n")
	c.expect("ABC\nDEFGHIJKLMNOP\n")
	c.conn.Close()
	line := out.WaitLine(t, "socket line", func(l string) bool { _, err := parseSummary(l); return err == nil })
	s, _ := parseSummary(line)
	if s.Bytes != 18 || s.Lines != 2 || s.CloseReason != "peer-close" || s.RecvDisconnectCode != 0 {
		t.Fatalf("socket line %q", line)
	}

	cmd.Stop(t) // as SIGINT would
	if lines, _ := out.Snapshot(); len(lines) != 2 {
		t.Fatalf("stdout %q, want the listening line and one socket line", lines)
	}
}

// TestRunErrors checks that bad arguments and an unusable address are
// errors, not panics, print nothing on stdout and leave nothing running.
func TestRunErrors(t *testing.T) {
	socktest.CheckRunErrors(t, run, [][]string{
		{"-dispatch", "bogus"},
		{"-max", "0"},
		{"-max", "-1"},
		{"-max", "many"},
		{"-nosuchflag"},
		{"extra"},
		{"-listen", "127.0.0.1:notaport"},
		{"-listen", socktest.BusyAddr(t)},
	})
}

// TestAppendUpper checks the echo transform: ASCII letters only, so a
// line upper-cases the same whole or split anywhere.
func TestAppendUpper(t *testing.T) {
	in := "héllo, Wörld! az AZ 09 ß\r\n"
	want := "HéLLO, WöRLD! AZ AZ 09 ß\r\n"
	if got := string(appendUpper(nil, []byte(in))); got != want {
		t.Fatalf("appendUpper(%q) = %q, want %q", in, got, want)
	}
	for i := range len(in) + 1 {
		got := appendUpper(appendUpper(nil, []byte(in[:i])), []byte(in[i:]))
		if string(got) != want {
			t.Fatalf("split at %d: %q", i, got)
		}
	}
}
