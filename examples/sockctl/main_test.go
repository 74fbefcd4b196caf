package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
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

// ---- captured stdout ----

// sink is the server's stdout: socktest.Lines and this test's parsers.
type sink struct{ *socktest.Lines }

func newSink() *sink { return &sink{socktest.NewLines()} }

// eventRec is one JSON event line of stdout.
type eventRec struct {
	Kind   string `json:"kind"`
	Socket uint64 `json:"socket"`
	Code   uint32 `json:"code"`
	Error  string `json:"error"`
	Reason string `json:"reason"`
	Local  bool   `json:"local"`
	Remote string `json:"remote"`
}

// requiredEventKeys are the keys other tools rely on.
var requiredEventKeys = []string{"kind", "socket", "code", "error", "reason", "local", "remote"}

// parseEvent decodes an event line and checks it has every required key.
func parseEvent(line string) (eventRec, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &keys); err != nil {
		return eventRec{}, err
	}
	for _, k := range requiredEventKeys {
		if _, ok := keys[k]; !ok {
			return eventRec{}, errors.New("missing key " + k)
		}
	}
	var ev eventRec
	err := json.Unmarshal([]byte(line), &ev)
	return ev, err
}

// events returns the event lines printed so far (every line but the first).
func (s *sink) events(t *testing.T) []eventRec {
	t.Helper()
	lines, _ := s.Snapshot()
	var evs []eventRec
	for i, l := range lines {
		if i == 0 {
			continue
		}
		ev, err := parseEvent(l)
		if err != nil {
			t.Fatalf("stdout line %d %q: %v", i+1, l, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// waitEvent waits for the event of kind about socket id.
func (s *sink) waitEvent(t *testing.T, kind string, id uint64) eventRec {
	t.Helper()
	var ev eventRec
	s.WaitLine(t, kind+" of socket "+strconv.FormatUint(id, 10), func(l string) bool {
		e, err := parseEvent(l)
		if err != nil || e.Kind != kind || e.Socket != id {
			return false
		}
		ev = e
		return true
	})
	return ev
}

// ---- a server under test ----

type env struct {
	t        *testing.T
	srv      *server
	out      *sink
	dispatch actors.Dispatch
	running  *socktest.Running[*server]
}

// newEnv starts a server on 127.0.0.1:0 and registers its shutdown and the
// stdout checks as a cleanup. Clients dialled later are closed first.
func newEnv(t *testing.T, d actors.Dispatch, ban actors.BanPolicy) *env {
	t.Helper()
	e := &env{t: t, out: newSink(), dispatch: d}
	e.running = socktest.StartServer(t, func(ctx context.Context) (*server, error) {
		return startServer(ctx, config{listen: "127.0.0.1:0", dispatch: d, ban: ban, loops: 2}, e.out)
	}, e.checkStdout)
	e.srv = e.running.Srv
	return e
}

// shutdown stops the server (once); every event is printed when it returns.
func (e *env) shutdown() { e.running.Shutdown() }

// checkStdout checks the whole stdout after shutdown: the listening line,
// well-formed events, and exactly one FD_ACCEPT then one FD_CLOSE per socket.
func (e *env) checkStdout() {
	t := e.t
	t.Helper()
	lines, _ := e.out.Snapshot()
	socktest.CheckListening(t, lines, e.srv.Addr())
	accepts := map[uint64]int{}
	closes := map[uint64]int{}
	for i, l := range lines[1:] {
		ev, err := parseEvent(l)
		if err != nil {
			t.Errorf("stdout line %d %q: %v", i+2, l, err)
			continue
		}
		if want := errorName(ev.Code); ev.Error != want {
			t.Errorf("event %q: error %q, want %q", l, ev.Error, want)
		}
		switch ev.Kind {
		case "FD_ACCEPT":
			if closes[ev.Socket] > 0 || ev.Code != 0 || ev.Reason != "accept" {
				t.Errorf("bad FD_ACCEPT %q", l)
			}
			accepts[ev.Socket]++
		case "FD_CLOSE":
			closes[ev.Socket]++
		default:
			t.Errorf("unexpected event kind in %q", l)
		}
	}
	for id, n := range accepts {
		if n != 1 || closes[id] != 1 {
			t.Errorf("socket %d: %d FD_ACCEPT and %d FD_CLOSE, want 1 and 1", id, n, closes[id])
		}
	}
	for id := range closes {
		if accepts[id] == 0 {
			t.Errorf("socket %d: FD_CLOSE without FD_ACCEPT", id)
		}
	}
}

// info asks the runtime (not the protocol) for a socket's SocketInfo.
func (e *env) info(id uint64) *actors.SocketInfo {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	rt := e.srv.Runtime()
	in, err := rt.Info(ctx, rt.SocketPID(id))
	if err != nil {
		e.t.Fatalf("Info(socket %d): %v", id, err)
	}
	return in
}

// pollInfo polls the runtime's SocketInfo of id until ok accepts it.
func (e *env) pollInfo(id uint64, what string, ok func(*actors.SocketInfo) bool) *actors.SocketInfo {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		in := e.info(id)
		if ok(in) {
			return in
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("socket %d: %s not reached within %v; last info %v", id, what, waitTimeout, in)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---- a client ----

type client struct {
	t    *testing.T
	conn *net.TCPConn
	r    *bufio.Reader
	id   uint64 // the server-side socket id, from its FD_ACCEPT
}

// dial connects to the server and learns the socket id from the FD_ACCEPT
// whose remote address is this client's.
func (e *env) dial() *client {
	e.t.Helper()
	c, err := net.DialTimeout("tcp", e.srv.Addr(), waitTimeout)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	cl := &client{t: e.t, conn: c.(*net.TCPConn), r: bufio.NewReader(c)}
	me := c.LocalAddr().String()
	line := e.out.WaitLine(e.t, "FD_ACCEPT from "+me, func(l string) bool {
		ev, err := parseEvent(l)
		return err == nil && ev.Kind == "FD_ACCEPT" && ev.Remote == me
	})
	ev, _ := parseEvent(line)
	cl.id = ev.Socket
	return cl
}

// send writes s as is.
func (c *client) send(s string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readLine reads one reply line (without "\n").
func (c *client) readLine() (string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	l, err := c.r.ReadString('\n')
	if err != nil {
		return l, err
	}
	return strings.TrimSuffix(l, "\n"), nil
}

// expect reads one line and checks it.
func (c *client) expect(want string) {
	c.t.Helper()
	got, err := c.readLine()
	if err != nil {
		c.t.Fatalf("reading %.60q: %v (got %.60q)", want, err, got)
	}
	if got != want {
		c.t.Fatalf("got line %.80q, want %.80q", got, want)
	}
}

// roundTrip sends one command line and checks the reply line.
func (c *client) roundTrip(cmd, want string) {
	c.t.Helper()
	c.send(cmd + "\n")
	c.expect(want)
}

// expectInfo reads one line and checks it is this socket's INFO reply.
func (c *client) expectInfo() infoLine {
	c.t.Helper()
	line, err := c.readLine()
	if err != nil {
		c.t.Fatalf("reading the INFO reply: %v (got %.60q)", err, line)
	}
	var in infoLine
	if err := json.Unmarshal([]byte(line), &in); err != nil || in.Socket != c.id {
		c.t.Fatalf("got line %.80q (%v), want the INFO reply of socket %d", line, err, c.id)
	}
	return in
}

// expectEOF checks the server half-closed or closed gracefully.
func (c *client) expectEOF() {
	c.t.Helper()
	got, err := c.readLine()
	if err != io.EOF || got != "" {
		c.t.Fatalf("read = %q, %v; want end-of-stream", got, err)
	}
}

// expectReset reads until an error, accepting only the lines in allowed
// before it, and checks the error is ECONNRESET.
func (c *client) expectReset(allowed ...string) {
	c.t.Helper()
	for {
		got, err := c.readLine()
		if err == nil {
			ok := false
			for _, a := range allowed {
				ok = ok || got == a
			}
			if !ok {
				c.t.Fatalf("got line %q while waiting for a reset", got)
			}
			continue
		}
		if !errors.Is(err, syscall.ECONNRESET) {
			c.t.Fatalf("read error %v (after %q), want ECONNRESET", err, got)
		}
		return
	}
}

// ---- the scenarios, run for both dispatch modes ----

// The error replies, spelled out as clients see them.
const (
	errUnknownLine = "ERR WSAEINVAL 10022 unknown command"
	errTooLongLine = "ERR WSAEMSGSIZE 10040 line too long"
)

type scenario struct {
	name string
	ban  actors.BanPolicy
	run  func(t *testing.T, e *env)
}

var scenarios = []scenario{
	{"echo", actors.BanReset, testEcho},
	{"info", actors.BanReset, testInfo},
	{"unknown", actors.BanReset, testUnknown},
	{"long-line", actors.BanReset, testLongLine},
	{"shutrd-discard", actors.BanDiscard, testShutRdDiscard},
	{"shutrd-reset", actors.BanReset, testShutRdReset},
	{"shutwr", actors.BanReset, testShutWr},
	{"close", actors.BanReset, testClose},
	{"abort", actors.BanReset, testAbort},
	{"peer-close", actors.BanReset, testPeerClose},
	{"shutdown", actors.BanReset, testShutdown},
	{"pipelined", actors.BanReset, testPipelined},
	{"half-close", actors.BanReset, testHalfClose},
}

// TestCommands runs every scenario against a fresh server, under Inline and
// under Pooled dispatch.
func TestCommands(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		for _, sc := range scenarios {
			t.Run(sc.name, func(t *testing.T) {
				sc.run(t, newEnv(t, d, sc.ban))
			})
		}
	})
}

func testEcho(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("ECHO hello world", "hello world")
	c.roundTrip("ECHO  two  spaces ", " two  spaces ")
	c.roundTrip("ECHO", "")
	c.roundTrip("ECHO crlf\r", "crlf")
	// Pipelined in one write, and one line split over many writes.
	c.send("ECHO a\nECHO b\r\nECHO c\n")
	c.expect("a")
	c.expect("b")
	c.expect("c")
	for _, b := range []byte("ECHO split\n") {
		c.send(string(b))
	}
	c.expect("split")
}

func testInfo(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("ECHO x", "x")
	c.send("INFO\r\n")
	line, err := c.readLine()
	if err != nil {
		t.Fatalf("INFO: %v", err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &keys); err != nil {
		t.Fatalf("INFO reply %q: %v", line, err)
	}
	for _, k := range []string{"socket", "state", "recv_shut", "send_shut", "bytes_in", "bytes_out", "banned_bytes"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("INFO reply %q has no %q", line, k)
		}
	}
	var in infoLine
	if err := json.Unmarshal([]byte(line), &in); err != nil {
		t.Fatalf("INFO reply %q: %v", line, err)
	}
	if in.Socket != c.id || in.State != "open" || in.RecvShut || in.SendShut || in.BannedBytes != 0 {
		t.Errorf("INFO = %+v, want socket %d open, no shutdown, nothing banned", in, c.id)
	}
	if in.BytesIn < uint64(len("ECHO x\nINFO\r\n")) || in.BytesOut < uint64(len("x\n")) {
		t.Errorf("INFO counters in=%d out=%d, want in >= %d, out >= 2", in.BytesIn, in.BytesOut, len("ECHO x\nINFO\r\n"))
	}
	if in.Dispatch != e.dispatch.String() || in.RemoteAddr != c.conn.LocalAddr().String() {
		t.Errorf("INFO dispatch %q remote %q, want %q %q", in.Dispatch, in.RemoteAddr, e.dispatch, c.conn.LocalAddr())
	}
}

func testUnknown(t *testing.T, e *env) {
	c := e.dial()
	for _, cmd := range []string{"FOO", "", "echo lower", "INFO now", "SHUTRD ", "ECHO\tx", "\r"} {
		c.roundTrip(cmd, errUnknownLine)
	}
	c.roundTrip("ECHO still usable", "still usable")
}

func testLongLine(t *testing.T, e *env) {
	c := e.dial()
	// The longest line accepted, with and without "\r".
	longest := "ECHO " + strings.Repeat("a", maxLine-len("ECHO "))
	c.roundTrip(longest, longest[len("ECHO "):])
	c.roundTrip(longest+"\r", longest[len("ECHO "):])
	// One byte more, in one write.
	c.roundTrip(longest+"b", errTooLongLine)
	c.roundTrip("ECHO after one", "after one")
	// 200 KiB over several writes: one error, the rest discarded.
	chunk := strings.Repeat("z", 50<<10)
	for range 4 {
		c.send(chunk)
	}
	c.send("\nECHO after many\n")
	c.expect(errTooLongLine)
	c.expect("after many")
	// The error can come before the line ends; the next line still works.
	c.send(strings.Repeat("y", maxLine+100))
	c.expect(errTooLongLine)
	c.send("yyy\nECHO after early\n")
	c.expect("after early")
}

func testShutRdDiscard(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("SHUTRD", "OK SHUTRD 0")
	// The ban is in effect once the reply is out: this is dropped and
	// counted, and the connection stays up.
	junk := "junk after the ban\nINFO\n"
	c.send(junk)
	c.expect("AFTER 1")
	c.expect("AFTER 2")
	c.expect("AFTER 3")
	in := e.pollInfo(c.id, "banned_bytes >= len(junk)", func(in *actors.SocketInfo) bool {
		return in.BannedBytes >= uint64(len(junk))
	})
	if !in.RecvShut || in.State != "open" || in.BanPolicy != "discard" {
		t.Fatalf("after SHUTRD and junk: %v; want recv_shut, open, discard", in)
	}
	// More bytes still do not reset the connection.
	c.send("more junk\n")
	e.pollInfo(c.id, "banned_bytes grew", func(n *actors.SocketInfo) bool {
		return n.BannedBytes >= in.BannedBytes+uint64(len("more junk\n")) && n.State == "open"
	})
	for _, ev := range e.out.events(t) {
		if ev.Kind == "FD_CLOSE" && ev.Socket == c.id {
			t.Fatalf("socket closed under discard: %+v", ev)
		}
	}
	_ = c.conn.Close()
	ev := e.out.waitEvent(t, "FD_CLOSE", c.id)
	if ev.Code != 0 || ev.Reason != "peer-close" || ev.Local {
		t.Fatalf("FD_CLOSE = %+v, want 0 peer-close remote", ev)
	}
}

func testShutRdReset(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("SHUTRD", "OK SHUTRD 0")
	c.send("junk after the ban\n")
	c.expectReset("AFTER 1", "AFTER 2", "AFTER 3")
	ev := e.out.waitEvent(t, "FD_CLOSE", c.id)
	if ev.Code != 10053 || ev.Error != "WSAECONNABORTED" || ev.Reason != "recv-ban" || !ev.Local {
		t.Fatalf("FD_CLOSE = %+v, want 10053 recv-ban local", ev)
	}
	// checkStdout verifies after shutdown that it is the only FD_CLOSE.
}

func testShutWr(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("SHUTWR", "OK SHUTWR")
	c.expectEOF()
	// Commands still run; their replies are dropped.
	sent := len("SHUTWR\n")
	for _, cmd := range []string{"ECHO dropped\n", "INFO\n", "BOGUS\n"} {
		c.send(cmd)
		sent += len(cmd)
	}
	in := e.pollInfo(c.id, "every byte received", func(in *actors.SocketInfo) bool {
		return in.BytesIn >= uint64(sent)
	})
	if !in.SendShut || in.RecvShut || in.State != "open" {
		t.Fatalf("after SHUTWR: %v; want send_shut only, open", in)
	}
	c.send("CLOSE\n")
	ev := e.out.waitEvent(t, "FD_CLOSE", c.id)
	if ev.Code != 0 || ev.Reason != "local-close" || !ev.Local {
		t.Fatalf("FD_CLOSE = %+v, want 0 local-close local", ev)
	}
	c.expectEOF()

	// A command pipelined after SHUTWR gets no reply, even in one write.
	c2 := e.dial()
	c2.send("SHUTWR\nECHO too late\n")
	c2.expect("OK SHUTWR")
	c2.expectEOF()
}

func testClose(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("CLOSE", "OK CLOSE")
	c.expectEOF()
	ev := e.out.waitEvent(t, "FD_CLOSE", c.id)
	if ev.Code != 0 || ev.Error != "" || ev.Reason != "local-close" || !ev.Local {
		t.Fatalf("FD_CLOSE = %+v, want 0 local-close local", ev)
	}

	// Nothing after CLOSE runs, even in the same write.
	c2 := e.dial()
	c2.send("ECHO first\r\nCLOSE\nECHO too late\n")
	c2.expect("first")
	c2.expect("OK CLOSE")
	c2.expectEOF()
}

func testAbort(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("ECHO before", "before")
	c.send("ABORT\n")
	c.expectReset()
	ev := e.out.waitEvent(t, "FD_CLOSE", c.id)
	if ev.Code != 10053 || ev.Error != "WSAECONNABORTED" || ev.Reason != "local-abort" || !ev.Local {
		t.Fatalf("FD_CLOSE = %+v, want 10053 local-abort local", ev)
	}
}

func testPeerClose(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("ECHO bye", "bye")
	if err := c.conn.Close(); err != nil {
		t.Fatal(err)
	}
	ev := e.out.waitEvent(t, "FD_CLOSE", c.id)
	if ev.Code != 0 || ev.Reason != "peer-close" || ev.Local || ev.Remote != c.conn.LocalAddr().String() {
		t.Fatalf("FD_CLOSE = %+v, want 0 peer-close not local from %s", ev, c.conn.LocalAddr())
	}
}

func testShutdown(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("ECHO open", "open")
	e.shutdown()
	// Printed before Shutdown returned: no wait.
	var found bool
	for _, ev := range e.out.events(t) {
		if ev.Kind == "FD_CLOSE" && ev.Socket == c.id {
			found = true
			if ev.Code != 10050 || ev.Error != "WSAENETDOWN" || ev.Reason != "shutdown" || !ev.Local {
				t.Fatalf("FD_CLOSE = %+v, want 10050 shutdown local", ev)
			}
		}
	}
	if !found {
		t.Fatal("no FD_CLOSE printed for the open socket when Shutdown returned")
	}
	c.expectEOF()
}

// testPipelined sends commands answered at once and commands answered
// asynchronously (INFO, SHUTRD) in one write: the answers come in command
// order, and SHUTWR and CLOSE act only after the answers before them.
func testPipelined(t *testing.T, e *env) {
	c := e.dial()
	c.send("ECHO a\nINFO\nBOGUS\nECHO b\n")
	c.expect("a")
	c.expectInfo()
	c.expect(errUnknownLine)
	c.expect("b")
	c.send("INFO\nINFO\nECHO c\r\nINFO\nECHO d\n")
	c.expectInfo()
	c.expectInfo()
	c.expect("c")
	c.expectInfo()
	c.expect("d")
	c.send("INFO\nCLOSE\nECHO too late\n")
	c.expectInfo()
	c.expect("OK CLOSE")
	c.expectEOF()

	// The FIN of SHUTWR follows the pending INFO; a CLOSE after it still
	// closes, without a reply.
	c2 := e.dial()
	c2.send("INFO\nSHUTWR\nECHO dropped\nINFO\nCLOSE\n")
	if in := c2.expectInfo(); in.SendShut {
		t.Errorf("INFO before SHUTWR = %+v, want send_shut false", in)
	}
	c2.expect("OK SHUTWR")
	c2.expectEOF()
	ev := e.out.waitEvent(t, "FD_CLOSE", c2.id)
	if ev.Code != 0 || ev.Reason != "local-close" || !ev.Local {
		t.Fatalf("FD_CLOSE = %+v, want 0 local-close local", ev)
	}

	// SHUTRD's answers queue behind an INFO too.
	c3 := e.dial()
	c3.send("INFO\nECHO x\nSHUTRD\n")
	c3.expectInfo()
	c3.expect("x")
	c3.expect("OK SHUTRD 0")
	c3.expect("AFTER 1")
	c3.expect("AFTER 2")
	c3.expect("AFTER 3")
}

// testHalfClose is a client like `nc -N`: it sends its commands, then
// shutdown(SHUT_WR), then reads to the end. The socket stays writable
// after the FIN (FD_CLOSE peer-close), so every answer arrives, and the
// handler closes the socket once they are out, long before the linger.
func testHalfClose(t *testing.T, e *env) {
	c := e.dial()
	c.send("ECHO hi\nINFO\n")
	start := time.Now()
	if err := c.conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.expect("hi")
	c.expectInfo()
	c.expectEOF()
	if d := time.Since(start); d >= actors.DefaultLinger/2 {
		t.Errorf("end-of-stream %v after the FIN, want the handler to close well before the %v linger", d, actors.DefaultLinger)
	}
	ev := e.out.waitEvent(t, "FD_CLOSE", c.id)
	if ev.Code != 0 || ev.Reason != "peer-close" || ev.Local {
		t.Fatalf("FD_CLOSE = %+v, want 0 peer-close remote", ev)
	}

	// The AFTER lines of a SHUTRD are pending answers too.
	c2 := e.dial()
	c2.send("INFO\nECHO x\nSHUTRD\n")
	if err := c2.conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c2.expectInfo()
	c2.expect("x")
	c2.expect("OK SHUTRD 0")
	c2.expect("AFTER 1")
	c2.expect("AFTER 2")
	c2.expect("AFTER 3")
	c2.expectEOF()
}

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
