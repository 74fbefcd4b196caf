package netio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/internal/socktest"
)

// leakOptions are the goroutines that may outlive every test: gnet's global
// worker pool (ants), created when gnet is initialised and never released,
// keeps a purge and a clock goroutine for the life of the process.
var leakOptions = socktest.LeakOptions()

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakOptions...)
}

// waitTimeout bounds every wait of these tests. It is a guard against hangs,
// never a timing assertion.
const waitTimeout = 10 * time.Second

// testHandler records the Handler calls of an Engine. The calls arrive on
// event loop goroutines; the test goroutine reads the records under mu.
// It also checks the Handler contract: OnOpen first, no OnData after the
// receive ban or after OnClose, OnClose exactly once.
type testHandler struct {
	// hooks, set before Start; they run on the loop.
	onOpen func(c *Conn)
	onData func(c *Conn, data []byte)

	openCh chan *Conn

	mu      sync.Mutex
	opened  []*Conn
	data    map[*Conn][]byte
	reasons map[*Conn][]Reason
	errs    []string
}

func newTestHandler(t *testing.T) *testHandler {
	h := &testHandler{
		openCh:  make(chan *Conn, 64),
		data:    make(map[*Conn][]byte),
		reasons: make(map[*Conn][]Reason),
	}
	t.Cleanup(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, e := range h.errs {
			t.Error(e)
		}
	})
	return h
}

func (h *testHandler) failf(format string, args ...any) {
	h.errs = append(h.errs, fmt.Sprintf(format, args...))
}

func (h *testHandler) OnOpen(c *Conn) {
	h.mu.Lock()
	if msg := kindMismatch(c); msg != "" {
		h.failf("OnOpen: %s", msg)
	}
	if c.Owner != nil {
		h.failf("OnOpen: Owner already set")
	}
	// A connection over MaxConns arrives already closing with ReasonLimit
	// (Engine.announce); any other is fresh.
	if c.Closed() || c.RecvShut() || c.SendShut() || (c.Reason() != ReasonNone && c.Reason() != ReasonLimit) {
		h.failf("OnOpen: conn not fresh")
	}
	if c.Listener() == nil {
		h.failf("OnOpen: accepted conn without listener")
	}
	c.Owner = h
	h.opened = append(h.opened, c)
	h.mu.Unlock()
	if h.onOpen != nil {
		h.onOpen(c)
	}
	h.openCh <- c
}

func (h *testHandler) OnData(c *Conn, data []byte) {
	h.mu.Lock()
	if c.Owner != h {
		h.failf("OnData before OnOpen")
	}
	if c.RecvShut() {
		h.failf("OnData after the receive ban: %q", data)
	}
	if len(h.reasons[c]) > 0 {
		h.failf("OnData after OnClose")
	}
	h.data[c] = append(h.data[c], data...) // data is only valid during the call
	h.mu.Unlock()
	if h.onData != nil {
		h.onData(c, data)
	}
}

func (h *testHandler) OnClose(c *Conn, r Reason) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.Owner != h {
		h.failf("OnClose before OnOpen")
	}
	if !c.Closed() {
		h.failf("OnClose: Closed() = false")
	}
	if r == ReasonNone {
		h.failf("OnClose with ReasonNone")
	}
	h.reasons[c] = append(h.reasons[c], r)
	if n := len(h.reasons[c]); n > 1 {
		h.failf("OnClose called %d times: %v", n, h.reasons[c])
	}
}

// waitOpen returns the next connection handed to OnOpen.
func (h *testHandler) waitOpen(t *testing.T) *Conn {
	t.Helper()
	select {
	case c := <-h.openCh:
		return c
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for OnOpen")
		return nil
	}
}

func (h *testHandler) dataOf(c *Conn) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return string(h.data[c])
}

func (h *testHandler) reasonOf(c *Conn) (Reason, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rs := h.reasons[c]; len(rs) > 0 {
		return rs[0], true
	}
	return ReasonNone, false
}

// waitData waits until OnData has received want on c (in total).
func (h *testHandler) waitData(t *testing.T, c *Conn, want string) {
	t.Helper()
	socktest.WaitFor(t, fmt.Sprintf("OnData %q", want), func() bool { return h.dataOf(c) == want })
}

// waitClose waits for OnClose on c and checks its reason.
func (h *testHandler) waitClose(t *testing.T, c *Conn, want Reason) {
	t.Helper()
	socktest.WaitFor(t, "OnClose "+want.String(), func() bool { _, ok := h.reasonOf(c); return ok })
	if r, _ := h.reasonOf(c); r != want {
		t.Fatalf("OnClose reason = %v, want %v", r, want)
	}
}

// startEngine starts an engine with two event loops on the given addresses
// and stops it when the test ends.
func startEngine(t *testing.T, h Handler, addrs ...string) (*Engine, []*Listener) {
	t.Helper()
	e := NewEngine(h, Options{EventLoops: 2})
	var lns []*Listener
	for _, a := range addrs {
		l, err := e.Listen(a)
		if err != nil {
			t.Fatalf("Listen(%q): %v", a, err)
		}
		lns = append(lns, l)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return e, lns
}

// dial connects a client to l and closes it when the test ends.
func dial(t *testing.T, l *Listener) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: waitTimeout}
	c, err := d.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatalf("dial %s: %v", l.Addr(), err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

// onLoop runs fn on c's event loop and waits for it.
func onLoop(t *testing.T, c *Conn, fn func()) {
	t.Helper()
	done := make(chan struct{})
	if err := c.execute(func() { defer close(done); fn() }); err != nil {
		t.Fatalf("Execute: %v", err)
	}
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for Execute")
	}
}

// statsOf reads c's counters on its loop.
func statsOf(t *testing.T, c *Conn) Stats {
	t.Helper()
	var st Stats
	onLoop(t, c, func() { st = c.Stats() })
	return st
}

// readUntilErr reads from the client until an error, returning the bytes
// read and the error.
func readUntilErr(t *testing.T, cl net.Conn) ([]byte, error) {
	t.Helper()
	if err := cl.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := cl.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("client read timed out after %q", got.String())
			}
			return got.Bytes(), err
		}
	}
}

// readFull reads exactly len(want) bytes and compares them.
func readFull(t *testing.T, cl net.Conn, want string) {
	t.Helper()
	if err := cl.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(cl, buf); err != nil {
		t.Fatalf("client read: %v", err)
	}
	if string(buf) != want {
		t.Fatalf("client read %q, want %q", buf, want)
	}
}

func write(t *testing.T, cl net.Conn, s string) {
	t.Helper()
	if _, err := cl.Write([]byte(s)); err != nil {
		t.Fatalf("client write: %v", err)
	}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("bound address %q: %v", addr, err)
	}
	return port
}

// kindMismatch checks that c's kind part holds what its kind needs (see
// Conn); it returns what disagrees, or "".
func kindMismatch(c *Conn) string {
	switch t := c.t.(type) {
	case *stream:
		if t.gc == nil {
			return "a stream needs a gnet connection"
		}
	case *udpPeer:
		if t.tbl == nil || t.sa == nil {
			return "a UDP peer needs its peer table and address"
		}
	case *dialedUDP:
		if t.gc == nil || t.el == nil || t.fd < 0 || !c.dialed {
			return "a dialled UDP socket has a gnet connection and a descriptor of its own"
		}
	default:
		return "unknown kind"
	}
	if _, isStream := c.t.(*stream); c.Datagram() == isStream {
		return "Datagram disagrees with the kind"
	}
	return ""
}

// gcOf returns the gnet connection of c, a stream.
func gcOf(c *Conn) gnet.Conn { return c.t.(*stream).gc }
