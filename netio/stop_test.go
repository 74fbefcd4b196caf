package netio

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockactor/sockactor/winsock"
)

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
	if !e.isStopping() {
		t.Error("Stopping() = false after Stop")
	}
	if st := e.Stats(); st.Open != 0 {
		t.Errorf("Stats().Open = %d after Stop", st.Open)
	}
	if err := e.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := conns[1].execute(func() {}); !errors.Is(err, winsock.ErrNetDown) {
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
	if !errors.Is(err, winsock.ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) {
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
