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

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
)

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
