package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
)

// ---- captured stdout ----

// sink is the server's stdout: socktest.Lines and this test's parsers.
type sink struct{ *socktest.Lines }

func newSink() *sink { return &sink{socktest.NewLines()} }

// summaryKeys are the keys of a socket's line, all required.
var summaryKeys = []string{"socket", "bytes", "lines", "close_reason", "recv_disconnect_code"}

// parseSummary decodes a socket's line and checks its key set.
func parseSummary(line string) (summary, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &keys); err != nil {
		return summary{}, err
	}
	if len(keys) != len(summaryKeys) {
		return summary{}, fmt.Errorf("keys %v, want exactly %v", keys, summaryKeys)
	}
	for _, k := range summaryKeys {
		if _, ok := keys[k]; !ok {
			return summary{}, fmt.Errorf("missing key %q", k)
		}
	}
	var s summary
	err := json.Unmarshal([]byte(line), &s)
	return s, err
}

// waitSummary waits for the line of socket id.
func (s *sink) waitSummary(t *testing.T, id uint64) summary {
	t.Helper()
	var got summary
	s.WaitLine(t, fmt.Sprintf("socket %d", id), func(l string) bool {
		sum, err := parseSummary(l)
		if err != nil || sum.Socket != id {
			return false
		}
		got = sum
		return true
	})
	return got
}

// ---- a server under test ----

type env struct {
	t       *testing.T
	srv     *server
	out     *sink
	errs    *sink // stderr
	accepts *acceptLog
	running *socktest.Running[*server]
}

// newEnv starts a server on 127.0.0.1:0 with -max testMax and registers
// its shutdown and the stdout checks as a cleanup. Clients dialled later
// are closed first.
func newEnv(t *testing.T, d actors.Dispatch) *env {
	t.Helper()
	return newEnvConfig(t, config{dispatch: d, max: testMax})
}

// newEnvConfig is newEnv with cfg (listen and loops are set here).
func newEnvConfig(t *testing.T, cfg config) *env {
	t.Helper()
	cfg.listen, cfg.loops = "127.0.0.1:0", 2
	e := &env{t: t, out: newSink(), errs: newSink()}
	e.running = socktest.StartServer(t, func(ctx context.Context) (*server, error) {
		return startServer(ctx, cfg, e.out, e.errs)
	}, e.checkStdout)
	e.srv = e.running.Srv
	e.accepts = newAcceptLog(t, e.srv)
	return e
}

// shutdown stops the server (once); every socket's line is printed when it
// returns.
func (e *env) shutdown() { e.running.Shutdown() }

// checkStdout checks the whole stdout after shutdown: the listening line
// first, then one well-formed line per accepted socket, each once; and
// nothing on stderr.
func (e *env) checkStdout() {
	t := e.t
	t.Helper()
	lines, _ := e.out.Snapshot()
	socktest.CheckListening(t, lines, e.srv.Addr())
	seen := map[uint64]int{}
	for i, l := range lines[1:] {
		s, err := parseSummary(l)
		if err != nil {
			t.Errorf("stdout line %d %q: %v", i+2, l, err)
			continue
		}
		seen[s.Socket]++
	}
	ids := e.accepts.ids()
	if len(seen) != len(ids) {
		t.Errorf("%d socket lines for %d accepted sockets; stdout:\n%s", len(seen), len(ids), strings.Join(lines, "\n"))
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("socket %d: %d lines, want 1", id, seen[id])
		}
	}
	if errs, _ := e.errs.Snapshot(); len(errs) > 0 {
		t.Errorf("stderr:\n%s", strings.Join(errs, "\n"))
	}
}

// acceptLog is a runtime-wide FD_ACCEPT subscriber of the test's own: it
// maps each client's address to its server-side socket id.
type acceptLog struct {
	mu     sync.Mutex
	byAddr map[string]uint64
	added  chan struct{} // closed and replaced on each FD_ACCEPT
}

func newAcceptLog(t *testing.T, srv *server) *acceptLog {
	t.Helper()
	a := &acceptLog{byAddr: map[string]uint64{}, added: make(chan struct{})}
	pid := srv.Runtime().System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if ev, ok := c.Message().(*events.Event); ok && ev.EventKind() == events.FDAccept {
			a.mu.Lock()
			a.byAddr[ev.GetRemoteAddr()] = ev.GetSocketId()
			close(a.added)
			a.added = make(chan struct{})
			a.mu.Unlock()
		}
	}))
	if err := srv.Runtime().Subscribe(pid, events.MaskOf(events.FDAccept)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Runtime().System().Root.Stop(pid) })
	return a
}

// id waits for the FD_ACCEPT of the client at addr.
func (a *acceptLog) id(t *testing.T, addr string) uint64 {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		id, ok := a.byAddr[addr]
		added := a.added
		a.mu.Unlock()
		if ok {
			return id
		}
		select {
		case <-added:
		case <-deadline.C:
			t.Fatalf("no FD_ACCEPT for %s within %v", addr, waitTimeout)
		}
	}
}

// ids returns every accepted socket id.
func (a *acceptLog) ids() []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ids []uint64
	for _, id := range a.byAddr {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// ---- a client ----

type client struct {
	t    *testing.T
	conn *net.TCPConn
	id   uint64 // the server-side socket id
}

// dial connects to the server and learns the client's socket id.
func (e *env) dial(t *testing.T) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", e.srv.Addr(), waitTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &client{t: t, conn: c.(*net.TCPConn), id: e.accepts.id(t, c.LocalAddr().String())}
}

// write writes s as is.
func (c *client) write(s string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// expect reads exactly len(want) bytes and compares.
func (c *client) expect(want string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	got := make([]byte, len(want))
	if n, err := io.ReadFull(c.conn, got); err != nil {
		c.t.Fatalf("read %d of %d echoed bytes: %v (got %.80q)", n, len(want), err, got[:n])
	}
	if string(got) != want {
		c.t.Fatalf("echo %.80q..., want %.80q...", got, want)
	}
}

// readToEOF reads until end-of-stream and returns what came. A clean EOF
// is a nil error; a reset is ECONNRESET.
func (c *client) readToEOF() ([]byte, error) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	return io.ReadAll(c.conn)
}

// expectEOF reads end-of-stream.
func (c *client) expectEOF() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	var b [1]byte
	if n, err := c.conn.Read(b[:]); n != 0 || err != io.EOF {
		c.t.Fatalf("read = %d, %v; want end-of-stream", n, err)
	}
}
