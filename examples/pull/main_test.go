package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
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

// ---- scripts ----

// script is what one client writes, write by write, and then a last piece
// without "\n", written just before it closes.
type script struct {
	name   string
	writes []string
	tail   string
}

// totals returns the echo the client must read back (its complete lines,
// ASCII upper-cased), the bytes it sends and its line count.
func (sc script) totals() (echo string, n, lines uint64) {
	all := strings.Join(sc.writes, "")
	complete := all[:strings.LastIndexByte(all, '\n')+1]
	return string(appendUpper(nil, []byte(complete))), uint64(len(all) + len(sc.tail)), uint64(strings.Count(all, "\n"))
}

// bigChunk is one write of many lines, much larger than testMax.
var bigChunk = func() string {
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "line %02d of the big chunk: %s\n", i, strings.Repeat("xy", 40+i))
	}
	return b.String()
}()

var scripts = []script{
	{
		name: "lines",
		writes: []string{
			"hello, pull world\n",
			"split li", "ne in three wr", "ites\r\n",
			"two\nlines in one write\n",
			bigChunk,
			"Grüße, ça va? 123\n",
			"\n", // an empty line
		},
		tail: "no newline at the end",
	},
	{
		name:   "big-only",
		writes: []string{bigChunk + bigChunk},
	},
	{
		name: "over-maxline",
		writes: []string{
			"short\n",
			strings.Repeat("abcdefgh", 5<<10), strings.Repeat("ijklmnop", 5<<10), // 80 KiB, one line
			"...end of the long line\n",
		},
		tail: "x",
	},
}

// exchange plays sc: every write, the whole echo read back, the tail,
// close; then checks the socket's line.
func (e *env) exchange(t *testing.T, sc script) {
	c := e.dial(t)
	echo, n, lines := sc.totals()
	for _, w := range sc.writes {
		c.write(w)
	}
	c.expect(echo)
	if sc.tail != "" {
		c.write(sc.tail)
	}
	if err := c.conn.Close(); err != nil {
		t.Fatal(err)
	}
	got := e.out.waitSummary(t, c.id)
	want := summary{Socket: c.id, Bytes: n, Lines: lines, CloseReason: "peer-close", RecvDisconnectCode: 0}
	if got != want {
		t.Fatalf("socket line %+v, want %+v", got, want)
	}
}

// ---- tests ----

// TestPull runs the scripts, one client each and all at once, against a
// server in each dispatch mode.
func TestPull(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		e := newEnv(t, d)
		t.Run("clients", func(t *testing.T) {
			for _, sc := range scripts {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					e.exchange(t, sc)
				})
			}
		})
		if t.Failed() {
			return
		}
		// The pull loop took the bytes in Recv-sized pieces.
		var total int64
		for _, sc := range scripts {
			_, n, _ := sc.totals()
			total += int64(n)
		}
		st := e.srv.stats
		if got := st.maxChunk.Load(); got != testMax {
			t.Errorf("largest Recv reply %d bytes, want -max = %d", got, testMax)
		}
		if got, min := st.recvData.Load(), (total+testMax-1)/testMax; got < min {
			t.Errorf("%d Recv replies with data for %d bytes, want at least %d", got, total, min)
		}
		// Nothing is pulled before an FD_READ (or the FD_CLOSE, which
		// these clients send only after their echo came back).
		if st.fdRead.Load() == 0 {
			t.Error("no FD_READ")
		}
	})
}

// TestHalfClose: a client that writes its request and then half-closes
// (shutdown(SHUT_WR), as nc -N does) gets its whole echo, then a clean
// end-of-stream. Its FIN reaches the server while most of the request is
// still unread, so the driver pulls and echoes it after FD_CLOSE
// peer-close, on the socket's half-open send side. A last line without
// "\n" is counted but not echoed, as always.
func TestHalfClose(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		e := newEnv(t, d)
		t.Run("clients", func(t *testing.T) {
			for _, sc := range scripts {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					e.halfClose(t, sc)
				})
			}
		})
		// Pulling 64 bytes per Recv, the driver is far from done when
		// a client's FIN arrives: echoes went out after FD_CLOSE.
		if !t.Failed() && e.srv.stats.closedSends.Load() == 0 {
			t.Error("no echo Send after FD_CLOSE")
		}
	})
}

// halfClose plays sc as a half-closing client: every write and the tail,
// CloseWrite, then the whole echo and a clean end-of-stream; then checks
// the socket's line.
func (e *env) halfClose(t *testing.T, sc script) {
	c := e.dial(t)
	echo, n, lines := sc.totals()
	for _, w := range sc.writes {
		c.write(w)
	}
	if sc.tail != "" {
		c.write(sc.tail)
	}
	if err := c.conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := c.readToEOF()
	if err != nil {
		t.Fatalf("read %d of %d echoed bytes, then %v; want a clean end-of-stream", len(got), len(echo), err)
	}
	if string(got) != echo {
		t.Fatalf("echo (%d bytes) %.80q..., want (%d bytes) %.80q...", len(got), got, len(echo), echo)
	}
	sum := e.out.waitSummary(t, c.id)
	want := summary{Socket: c.id, Bytes: n, Lines: lines, CloseReason: "peer-close", RecvDisconnectCode: 0}
	if sum != want {
		t.Fatalf("socket line %+v, want %+v", sum, want)
	}
}

// bigInput is numbered 64-byte lines: 4 MiB more than the kernel may
// buffer on the server's side of a loopback connection (the largest send
// buffer TCP autotuning grows to, tcp_wmem's maximum, 4 MiB by default;
// the client's receive buffer is made small), so a client that does not
// read leaves at least 4 MiB of echo that the kernel cannot take.
var bigInput = func() string {
	size := 4<<20 + tcpWmemMax()
	var b strings.Builder
	b.Grow(size)
	for i := range size / 64 {
		fmt.Fprintf(&b, "%08d the quick brown fox jumps over the lazy dog %10d\n", i, i*i%1e10)
	}
	if b.Len() != size/64*64 {
		panic(fmt.Sprintf("bigInput is %d bytes, want %d", b.Len(), size/64*64))
	}
	return b.String()
}()

// tcpWmemMax returns the third field of /proc/sys/net/ipv4/tcp_wmem, or
// 4 MiB (Linux's default) if it cannot be read.
func tcpWmemMax() int {
	const def = 4 << 20
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem")
	if err != nil {
		return def
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return def
	}
	n, err := strconv.Atoi(f[2])
	if err != nil || n <= 0 || n > 64<<20 {
		return def
	}
	return n
}

// newBackPressureEnv starts a server whose sockets refuse Sends past
// 128 KiB of queued output (FD_WRITE below 32 KiB), so a client that stops
// reading gets Sends refused with WSAEWOULDBLOCK long before its echo is
// out. The socket may hold all of bigInput unread (MaxInbound), and the
// linger (which bounds a half-open socket's life after FD_CLOSE) is made
// long enough for a slow, loaded machine.
func newBackPressureEnv(t *testing.T, d actors.Dispatch) *env {
	t.Helper()
	return newEnvConfig(t, config{
		dispatch:      d,
		max:           16 << 10,
		sendHighWater: 128 << 10,
		sendLowWater:  32 << 10,
		maxInbound:    len(bigInput),
		linger:        time.Minute,
	})
}

// bigClient dials, shrinks its receive buffer (so the kernel absorbs
// little of the echo while the client does not read) and writes bigInput.
// The write completes without reading: the server takes every byte into
// the socket's pull buffer.
func (e *env) bigClient(t *testing.T) *client {
	t.Helper()
	c := e.dial(t)
	if err := c.conn.SetReadBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	c.write(bigInput)
	return c
}

// checkBig checks the echo and the socket line of a bigInput client.
func (e *env) checkBig(t *testing.T, c *client, got []byte, err error) {
	t.Helper()
	want := strings.ToUpper(bigInput)
	if err != nil {
		t.Fatalf("read %d of %d echoed bytes, then %v; want a clean end-of-stream", len(got), len(want), err)
	}
	if string(got) != want {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("echo of %d bytes, want %d; first difference at byte %d", len(got), len(want), i)
	}
	sum := e.out.waitSummary(t, c.id)
	wantSum := summary{Socket: c.id, Bytes: uint64(len(bigInput)), Lines: uint64(len(bigInput) / 64), CloseReason: "peer-close", RecvDisconnectCode: 0}
	if sum != wantSum {
		t.Fatalf("socket line %+v, want %+v", sum, wantSum)
	}
	if st := e.srv.Runtime().Stats(); st.Conns.SendDropped != 0 {
		t.Fatalf("SendDropped = %d, want 0", st.Conns.SendDropped)
	}
}

// TestHalfCloseBackPressure: a client writes bigInput (8 MiB of lines by
// default), half-closes, and reads nothing until the server has seen its
// FD_CLOSE and had an echo Send refused with WSAEWOULDBLOCK after it. No FD_WRITE follows FD_CLOSE,
// so only the driver's retry timer can move the echo on; the client must
// still get all of it, then a clean end-of-stream.
func TestHalfCloseBackPressure(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		e := newBackPressureEnv(t, d)
		c := e.bigClient(t)
		if err := c.conn.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		st := e.srv.stats
		socktest.WaitFor(t, "an echo Send refused after FD_CLOSE", func() bool { return st.sendBlockedClosed.Load() > 0 })
		got, err := c.readToEOF()
		e.checkBig(t, c, got, err)
		if st.sendRetries.Load() == 0 {
			t.Error("no Send retried by the timer")
		}
	})
}

// TestBackPressureOpen: the same refusals while the socket is open are
// retried on FD_WRITE. The client writes bigInput without reading, waits
// until an echo Send was refused, then reads its whole echo while still
// open, and only then closes.
func TestBackPressureOpen(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		e := newBackPressureEnv(t, d)
		c := e.bigClient(t)
		st := e.srv.stats
		socktest.WaitFor(t, "an echo Send refused", func() bool { return st.sendBlocked.Load() > 0 })
		c.expect(strings.ToUpper(bigInput))
		if st.fdWriteResumes.Load() == 0 {
			t.Error("no refused Send resumed by FD_WRITE")
		}
		if n := st.sendBlockedClosed.Load(); n != 0 {
			t.Errorf("%d Sends refused after FD_CLOSE, before the client closed", n)
		}
		if err := c.conn.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := c.readToEOF()
		if len(got) != 0 {
			t.Fatalf("%d bytes after the whole echo", len(got))
		}
		e.checkBig(t, c, []byte(strings.ToUpper(bigInput)), err)
	})
}

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
