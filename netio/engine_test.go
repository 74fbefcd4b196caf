package netio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
	if c.Owner != nil {
		h.failf("OnOpen: Owner already set")
	}
	if c.Closed() || c.RecvShut() || c.SendShut() || c.Reason() != ReasonNone {
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
	if err := c.Execute(func() { defer close(done); fn() }); err != nil {
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

func TestEngineStartAndData(t *testing.T) {
	h := newTestHandler(t)
	e, lns := startEngine(t, h, "127.0.0.1:0")
	l := lns[0]
	if l.Network() != "tcp" {
		t.Errorf("Network() = %q, want tcp", l.Network())
	}
	if p := portOf(t, l.Addr()); p == "0" {
		t.Fatalf("Addr() = %q, want a real port", l.Addr())
	}
	if e.Stopping() {
		t.Error("Stopping() = true before Stop")
	}

	cl := dial(t, l)
	c := h.waitOpen(t)
	if c.Listener() != l {
		t.Errorf("Listener() = %p, want %p", c.Listener(), l)
	}
	if c.LocalAddr() != l.Addr() {
		t.Errorf("LocalAddr() = %q, want %q", c.LocalAddr(), l.Addr())
	}
	if c.RemoteAddr() != cl.LocalAddr().String() {
		t.Errorf("RemoteAddr() = %q, want %q", c.RemoteAddr(), cl.LocalAddr())
	}
	write(t, cl, "hello, ")
	write(t, cl, "loop")
	h.waitData(t, c, "hello, loop")
	if st := statsOf(t, c); st.BytesIn != uint64(len("hello, loop")) || st.BannedBytes != 0 {
		t.Errorf("Stats() = %+v", st)
	}

	// The server answers from the loop.
	onLoop(t, c, func() {
		if n, err := c.Write([]byte("pong")); n != 4 || err != nil {
			t.Errorf("Write = %d, %v", n, err)
		}
	})
	readFull(t, cl, "pong")
	if st := statsOf(t, c); st.BytesOut != 4 {
		t.Errorf("BytesOut = %d, want 4", st.BytesOut)
	}

	// AsyncWrite from this goroutine.
	done := make(chan error, 1)
	if err := c.AsyncWrite([]byte("async"), func(n int, err error) {
		if n != 5 {
			err = fmt.Errorf("n = %d: %v", n, err)
		}
		done <- err
	}); err != nil {
		t.Fatalf("AsyncWrite: %v", err)
	}
	readFull(t, cl, "async")
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("AsyncWrite callback: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("AsyncWrite callback never ran")
	}

	// Declaring listeners and starting again are refused once started.
	if _, err := e.Listen("127.0.0.1:0"); !errors.Is(err, ErrInvalid) || !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Listen after Start: %v, want WSAEINVAL", err)
	}
	if err := e.Start(context.Background()); !errors.Is(err, ErrInvalid) {
		t.Errorf("second Start: %v, want WSAEINVAL", err)
	}
}

func TestEngineTwoListeners(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "127.0.0.1:0", "127.0.0.1:0")
	p0, p1 := portOf(t, lns[0].Addr()), portOf(t, lns[1].Addr())
	if p0 == "0" || p1 == "0" || p0 == p1 {
		t.Fatalf("ports %s and %s, want two distinct real ports", p0, p1)
	}
	for i, l := range lns {
		cl := dial(t, l)
		c := h.waitOpen(t)
		if c.Listener() != l {
			t.Errorf("listener %d: Listener() is the wrong listener", i)
		}
		msg := fmt.Sprintf("to listener %d", i)
		write(t, cl, msg)
		h.waitData(t, c, msg)
	}
}

// TestEngineListenTCP4TCP6 documents a bug: gnet records every tcp4 and
// tcp6 listener under the network "tcp", so OnBoot's DupListener(l.network,
// l.address) fails for them and Listener.Addr keeps the configured port 0.
func TestEngineListenTCP4TCP6(t *testing.T) {
	addrs := []string{"tcp4://127.0.0.1:0"}
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln.Close()
		addrs = append(addrs, "tcp6://[::1]:0")
	}
	for _, a := range addrs {
		t.Run(a, func(t *testing.T) {
			h := newTestHandler(t)
			_, lns := startEngine(t, h, a)
			if p := portOf(t, lns[0].Addr()); p == "0" {
				t.Fatalf("Addr() = %q, want a real port", lns[0].Addr())
			}
			dial(t, lns[0])
			if c := h.waitOpen(t); c.Listener() != lns[0] {
				t.Fatal("wrong listener")
			}
		})
	}
}

// TestEngineListenersSameAddressDifferentNetwork documents a bug: two
// port-0 listeners on one address declared under different networks
// ("tcp" and "tcp4") are not recognised as duplicates by Listen, so neither
// gets a concrete port; gnet reports the configured address as an accepted
// connection's LocalAddr, so listenerFor cannot tell them apart.
func TestEngineListenersSameAddressDifferentNetwork(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "tcp://127.0.0.1:0", "tcp4://127.0.0.1:0")
	if lns[0].Addr() == lns[1].Addr() {
		t.Fatalf("both listeners report %s", lns[0].Addr())
	}
	dial(t, lns[1])
	if c := h.waitOpen(t); c.Listener() != lns[1] {
		t.Fatalf("connection to the second listener attributed to %s", c.Listener().Addr())
	}
}

func TestEngineStartErrors(t *testing.T) {
	t.Run("no listener", func(t *testing.T) {
		// A dial-only engine: gnet needs a listener, so Start binds a
		// private loopback one that refuses whatever reaches it.
		h := newTestHandler(t)
		e := NewEngine(h, Options{EventLoops: 2})
		if err := e.Start(context.Background()); err != nil {
			t.Fatalf("Start without listener: %v", err)
		}
		defer func() {
			if err := e.Stop(context.Background()); err != nil {
				t.Errorf("Stop: %v", err)
			}
		}()
		if e.internal == nil || portOf(t, e.internal.Addr()) == "0" {
			t.Fatalf("no private listener bound: %+v", e.internal)
		}
		cl, err := net.DialTimeout("tcp", e.internal.Addr(), waitTimeout)
		if err != nil {
			t.Fatalf("dial the private listener: %v", err)
		}
		defer cl.Close()
		if got, err := readUntilErr(t, cl); len(got) != 0 || err == nil {
			t.Fatalf("private listener answered %q, %v; want it to close", got, err)
		}
		select {
		case <-h.openCh:
			t.Fatal("OnOpen ran for a connection to the private listener")
		default:
		}
		if _, err := e.Listen("127.0.0.1:0"); !errors.Is(err, ErrInvalid) {
			t.Errorf("Listen after Start: %v, want WSAEINVAL", err)
		}
	})
	t.Run("bad address", func(t *testing.T) {
		e := NewEngine(newTestHandler(t), Options{})
		for _, a := range []string{"udp://127.0.0.1:0", "127.0.0.1"} {
			if l, err := e.Listen(a); l != nil || !errors.Is(err, ErrInvalid) {
				t.Errorf("Listen(%q) = %v, %v; want WSAEINVAL", a, l, err)
			}
		}
	})
	t.Run("port in use", func(t *testing.T) {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		e := NewEngine(newTestHandler(t), Options{EventLoops: 1})
		if _, err := e.Listen(busy.Addr().String()); err != nil {
			t.Fatal(err)
		}
		err = e.Start(context.Background())
		var op *OpError
		if !errors.As(err, &op) || op.Op != "Start" {
			t.Fatalf("Start on a busy port: %v, want an *OpError from Start", err)
		}
		if err := e.Stop(context.Background()); err != nil {
			t.Errorf("Stop after a failed Start: %v", err)
		}
	})
	t.Run("stop before start", func(t *testing.T) {
		e := NewEngine(newTestHandler(t), Options{})
		if err := e.Stop(context.Background()); err != nil {
			t.Errorf("Stop before Start: %v", err)
		}
		if !e.Stopping() {
			t.Error("Stopping() = false after Stop")
		}
	})
}

func TestEngineBanReset(t *testing.T) {
	for _, mode := range []string{"OnOpen", "Execute"} {
		t.Run(mode, func(t *testing.T) {
			h := newTestHandler(t)
			if mode == "OnOpen" {
				h.onOpen = func(c *Conn) { c.ShutdownRecv(0) }
			}
			_, lns := startEngine(t, h, "127.0.0.1:0")
			cl := dial(t, lns[0])
			c := h.waitOpen(t)
			if mode == "Execute" {
				write(t, cl, "before")
				h.waitData(t, c, "before")
				onLoop(t, c, func() {
					c.ShutdownRecv(0)
					c.ShutdownRecv(0) // idempotent
					if !c.RecvShut() || c.Closed() || c.Policy() != BanReset {
						t.Errorf("after ShutdownRecv(0): RecvShut=%v Closed=%v Policy=%v", c.RecvShut(), c.Closed(), c.Policy())
					}
				})
			}
			write(t, cl, "banned")
			_, err := readUntilErr(t, cl)
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("client read after banned data: %v, want ECONNRESET", err)
			}
			h.waitClose(t, c, ReasonRecvBan)
			if r := ReasonRecvBan; r.Code() != WSAECONNABORTED || !r.Local() {
				t.Errorf("recv-ban: code %v local %v", r.Code(), r.Local())
			}
			want := ""
			if mode == "Execute" {
				want = "before"
			}
			if got := h.dataOf(c); got != want {
				t.Errorf("OnData got %q, want %q", got, want)
			}
		})
	}
}

// TestEngineBanResetQueued: bytes the upper layer still holds when the ban
// takes effect reset the connection at once (docs/SEMANTICS.md §3.3).
func TestEngineBanResetQueued(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	onLoop(t, c, func() {
		c.ShutdownRecv(3)
		if !c.Closed() || c.Reason() != ReasonRecvBan {
			t.Errorf("after ShutdownRecv(3): Closed=%v Reason=%v", c.Closed(), c.Reason())
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, ErrNotConn) {
			t.Errorf("Write after close: %v, want WSAENOTCONN", err)
		}
		if err := c.ShutdownSend(); !errors.Is(err, ErrNotConn) {
			t.Errorf("ShutdownSend after close: %v, want WSAENOTCONN", err)
		}
		c.Close(ReasonLocalClose) // no second OnClose
	})
	if r, ok := h.reasonOf(c); !ok || r != ReasonRecvBan {
		t.Fatalf("OnClose = %v, %v; want recv-ban before ShutdownRecv returned", r, ok)
	}
	if _, err := readUntilErr(t, cl); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client read: %v, want ECONNRESET", err)
	}
}

func TestEngineBanDiscard(t *testing.T) {
	h := newTestHandler(t)
	h.onOpen = func(c *Conn) {
		c.SetPolicy(BanDiscard)
		c.ShutdownRecv(0)
	}
	_, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)

	chunk := strings.Repeat("z", 1000)
	const chunks = 20
	for i := 0; i < chunks; i++ {
		write(t, cl, chunk)
	}
	total := uint64(chunks * len(chunk))
	socktest.WaitFor(t, "banned bytes", func() bool { return statsOf(t, c).BannedBytes == total })
	st := statsOf(t, c)
	if st.BytesIn != total {
		t.Errorf("BytesIn = %d, want %d", st.BytesIn, total)
	}
	if got := h.dataOf(c); got != "" {
		t.Errorf("OnData got %d bytes after the ban", len(got))
	}

	// Sending keeps working.
	onLoop(t, c, func() {
		if c.Policy() != BanDiscard || !c.RecvShut() || c.Closed() {
			t.Errorf("Policy=%v RecvShut=%v Closed=%v", c.Policy(), c.RecvShut(), c.Closed())
		}
		if n, err := c.Write([]byte("still here")); n != 10 || err != nil {
			t.Errorf("Write after the ban = %d, %v", n, err)
		}
	})
	readFull(t, cl, "still here")

	// Bytes the upper layer held when the ban took effect count too, and
	// AddBanned counts bytes dropped above the transport.
	onLoop(t, c, func() { c.ShutdownRecv(5) }) // already banned: no-op
	c.AddBanned(7)
	if got := statsOf(t, c).BannedBytes; got != total+7 {
		t.Errorf("BannedBytes = %d, want %d", got, total+7)
	}
	if _, ok := h.reasonOf(c); ok || c.Closed() {
		t.Fatal("the discard policy closed the connection")
	}

	// The peer's FIN still ends the connection normally.
	if err := cl.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	h.waitClose(t, c, ReasonPeerClose)
}

// TestEngineBanDiscardQueued: with BanDiscard, bytes the upper layer still
// holds when the ban takes effect do not reset the connection; the upper
// layer drops them and counts them with AddBanned.
func TestEngineBanDiscardQueued(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	onLoop(t, c, func() {
		c.SetPolicy(BanDiscard)
		c.ShutdownRecv(11)
		if c.Closed() || c.Reason() != ReasonNone {
			t.Errorf("ShutdownRecv(11) under discard: Closed=%v Reason=%v", c.Closed(), c.Reason())
		}
		if got := c.Stats().BannedBytes; got != 0 {
			t.Errorf("BannedBytes = %d: queued bytes are the caller's to count", got)
		}
		c.AddBanned(11)
	})
	if st := statsOf(t, c); st.BannedBytes != 11 {
		t.Fatalf("after AddBanned(11): %+v", st)
	}
	write(t, cl, "abc")
	socktest.WaitFor(t, "banned bytes", func() bool { return statsOf(t, c).BannedBytes == 14 })
	if got := h.dataOf(c); got != "" {
		t.Errorf("OnData got %q after the ban", got)
	}
}

func TestEnginePeerClose(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	write(t, cl, "last words")
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	h.waitClose(t, c, ReasonPeerClose)
	// Data sent before the FIN is delivered before OnClose.
	if got := h.dataOf(c); got != "last words" {
		t.Errorf("OnData got %q before peer-close", got)
	}
}

func TestEnginePeerReset(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	if err := cl.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	h.waitClose(t, c, ReasonPeerReset)
}

func TestEngineLocalClose(t *testing.T) {
	tests := []struct {
		reason Reason
		reset  bool // the client sees ECONNRESET, else queued data then EOF
	}{
		{ReasonLocalAbort, true},
		{ReasonLocalClose, false},
		{ReasonTimeout, true},
		{ReasonLimit, true},
	}
	for _, tc := range tests {
		t.Run(tc.reason.String(), func(t *testing.T) {
			h := newTestHandler(t)
			_, lns := startEngine(t, h, "127.0.0.1:0")
			cl := dial(t, lns[0])
			c := h.waitOpen(t)
			onLoop(t, c, func() {
				if !tc.reset {
					_, _ = c.Write([]byte("bye"))
				}
				c.Close(tc.reason)
				c.Close(ReasonLocalAbort) // idempotent: no second OnClose, reason kept
			})
			if r, ok := h.reasonOf(c); !ok || r != tc.reason {
				t.Fatalf("OnClose = %v, %v; want %v before Close returned", r, ok, tc.reason)
			}
			got, err := readUntilErr(t, cl)
			if tc.reset {
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("client read: %v, want ECONNRESET", err)
				}
			} else if err != io.EOF || string(got) != "bye" {
				t.Fatalf("client read %q, %v; want \"bye\", EOF", got, err)
			}
		})
	}
}

// TestEngineCloseFromOnData: a Close asked inside OnData happens as OnData
// returns.
func TestEngineCloseFromOnData(t *testing.T) {
	h := newTestHandler(t)
	h.onData = func(c *Conn, data []byte) {
		if string(data) == "abort" {
			c.Close(ReasonLocalAbort)
			if c.Closed() {
				t.Error("Close inside OnData closed at once")
			}
		}
	}
	_, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	write(t, cl, "abort")
	h.waitClose(t, c, ReasonLocalAbort)
	if _, err := readUntilErr(t, cl); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client read: %v, want ECONNRESET", err)
	}
}

func TestEngineShutdownSend(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	onLoop(t, c, func() {
		if _, err := c.Write([]byte("flushed first")); err != nil {
			t.Errorf("Write: %v", err)
		}
		if err := c.ShutdownSend(); err != nil {
			t.Errorf("ShutdownSend: %v", err)
		}
		if err := c.ShutdownSend(); err != nil { // idempotent
			t.Errorf("second ShutdownSend: %v", err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, ErrShutdown) || !errors.Is(err, syscall.ESHUTDOWN) {
			t.Errorf("Write after ShutdownSend: %v, want WSAESHUTDOWN", err)
		}
	})
	got, err := readUntilErr(t, cl)
	if err != io.EOF || string(got) != "flushed first" {
		t.Fatalf("client read %q, %v; want the data then EOF", got, err)
	}
	onLoop(t, c, func() {
		if !c.SendShut() || c.Closed() {
			t.Errorf("SendShut=%v Closed=%v", c.SendShut(), c.Closed())
		}
	})
	// The receive side still works.
	write(t, cl, "after FIN")
	h.waitData(t, c, "after FIN")
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	h.waitClose(t, c, ReasonPeerClose)
}

func TestEngineStop(t *testing.T) {
	h := newTestHandler(t)
	e := NewEngine(h, Options{EventLoops: 2})
	l, err := e.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var clients []*net.TCPConn
	var conns []*Conn
	for i := 0; i < 3; i++ {
		clients = append(clients, dial(t, l))
		conns = append(conns, h.waitOpen(t))
	}
	if st := e.Stats(); st.Open != 3 {
		t.Errorf("Stats().Open = %d, want 3", st.Open)
	}
	// One is already closed: it must not be reported twice.
	onLoop(t, conns[0], func() { conns[0].Close(ReasonLocalClose) })

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// OnClose has run for every open connection before Stop returned.
	for i, c := range conns {
		want := ReasonShutdown
		if i == 0 {
			want = ReasonLocalClose
		}
		if r, ok := h.reasonOf(c); !ok || r != want {
			t.Errorf("conn %d: OnClose = %v, %v; want %v", i, r, ok, want)
		}
		if !c.Closed() {
			t.Errorf("conn %d: Closed() = false after Stop", i)
		}
	}
	if !e.Stopping() {
		t.Error("Stopping() = false after Stop")
	}
	if st := e.Stats(); st.Open != 0 {
		t.Errorf("Stats().Open = %d after Stop", st.Open)
	}
	if err := e.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := conns[1].Execute(func() {}); !errors.Is(err, ErrNetDown) {
		t.Errorf("Execute after Stop: %v, want WSAENETDOWN", err)
	}
	// Shutdown closes gracefully: the clients read EOF.
	for i, cl := range clients[1:] {
		if _, err := readUntilErr(t, cl); err != io.EOF {
			t.Errorf("client %d read: %v, want EOF", i+1, err)
		}
	}
	// The listener is gone.
	if c, err := net.DialTimeout("tcp", l.Addr(), waitTimeout); err == nil {
		c.Close()
		t.Error("dial after Stop succeeded")
	}
}

// TestEngineStopConcurrent: Stop from several goroutines at once.
func TestEngineStopConcurrent(t *testing.T) {
	h := newTestHandler(t)
	e, lns := startEngine(t, h, "127.0.0.1:0")
	dial(t, lns[0])
	c := h.waitOpen(t)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.Stop(context.Background()); err != nil {
				t.Errorf("Stop: %v", err)
			}
		}()
	}
	wg.Wait()
	if r, ok := h.reasonOf(c); !ok || r != ReasonShutdown {
		t.Errorf("OnClose = %v, %v; want shutdown", r, ok)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}

// TestEngineNoFDLeak runs an engine through every kind of close and checks
// that the process holds as many descriptors afterwards as before.
func TestEngineNoFDLeak(t *testing.T) {
	// Warm up what the Go runtime opens once (its own poller).
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	before := countFDs(t)

	func() {
		h := newTestHandler(t)
		h.onOpen = func(c *Conn) {
			if c.RemoteAddr() == "" {
				t.Error("no remote address")
			}
		}
		e := NewEngine(h, Options{EventLoops: 2})
		l1, _ := e.Listen("127.0.0.1:0")
		l2, _ := e.Listen("127.0.0.1:0")
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		dialRaw := func(l *Listener) *net.TCPConn {
			c, err := net.DialTimeout("tcp", l.Addr(), waitTimeout)
			if err != nil {
				t.Fatal(err)
			}
			return c.(*net.TCPConn)
		}
		// peer close
		a := dialRaw(l1)
		ca := h.waitOpen(t)
		a.Close()
		h.waitClose(t, ca, ReasonPeerClose)
		// peer reset
		b := dialRaw(l2)
		cb := h.waitOpen(t)
		_ = b.SetLinger(0)
		b.Close()
		h.waitClose(t, cb, ReasonPeerReset)
		// local abort
		d := dialRaw(l1)
		cd := h.waitOpen(t)
		onLoop(t, cd, func() { cd.Close(ReasonLocalAbort) })
		_, _ = readUntilErr(t, d)
		d.Close()
		// recv ban
		f := dialRaw(l2)
		cf := h.waitOpen(t)
		onLoop(t, cf, func() { cf.ShutdownRecv(1) })
		_, _ = readUntilErr(t, f)
		f.Close()
		// open at shutdown
		g := dialRaw(l1)
		h.waitOpen(t)
		if err := e.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		g.Close()
	}()

	var after int
	deadline := time.Now().Add(waitTimeout)
	for {
		if after = countFDs(t); after <= before || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if after > before {
		t.Fatalf("%d descriptors before, %d after", before, after)
	}
}

// TestEngineStartBindFailureLeavesNothingBound: gnet binds listeners one by
// one and would leave the first bound when the second fails; Start must
// fail with the bind error and leave the first address free.
func TestEngineStartBindFailureLeavesNothingBound(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()

	e := NewEngine(newTestHandler(t), Options{EventLoops: 1})
	if _, err := e.Listen("tcp://" + freeAddr); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Listen("tcp://" + taken.Addr().String()); err != nil {
		t.Fatal(err)
	}
	err = e.Start(context.Background())
	if !errors.Is(err, ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Start = %v, want WSAEADDRINUSE", err)
	}
	if err := e.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	again, err := net.Listen("tcp", freeAddr)
	if err != nil {
		t.Fatalf("the first listener's address is still bound after the failed Start: %v", err)
	}
	again.Close()
}
