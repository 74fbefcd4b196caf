package netio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/winsock"
)

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
	if e.isStopping() {
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
	if err := c.asyncWrite([]byte("async"), func(n int, err error) {
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

	// Starting again is refused.
	if err := e.Start(context.Background()); !errors.Is(err, winsock.ErrInvalid) {
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
	})
	t.Run("bad address", func(t *testing.T) {
		e := NewEngine(newTestHandler(t), Options{})
		for _, a := range []string{"sctp://127.0.0.1:0", "127.0.0.1"} {
			if l, err := e.Listen(a); l != nil || !errors.Is(err, winsock.ErrInvalid) {
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
		var op *winsock.OpError
		if !errors.As(err, &op) || op.Op != "Start" {
			t.Fatalf("Start on a busy port: %v, want an *winsock.OpError from Start", err)
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
		if !e.isStopping() {
			t.Error("Stopping() = false after Stop")
		}
	})
}

// TestEngineReservedPortIsHeldUntilStart: a second port-0 listener gets its
// port at Listen, and the port stays taken until Start has bound it (a
// connect elsewhere cannot pick it as its ephemeral port in between); after
// Start the reservation's descriptor is gone and the listener accepts.
func TestEngineReservedPortIsHeldUntilStart(t *testing.T) {
	h := newTestHandler(t)
	e := NewEngine(h, Options{EventLoops: 2})
	if _, err := e.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	l, err := e.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if len(e.held) != 1 {
		t.Fatalf("%d ports held after the second port-0 Listen, want 1", len(e.held))
	}
	// A socket without SO_REUSEADDR (as a dialling one) cannot bind it.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.address) // Addr reports the bound address only after Start
	p, _ := strconv.Atoi(port)
	berr := unix.Bind(fd, &unix.SockaddrInet4{Port: p, Addr: [4]byte{127, 0, 0, 1}})
	unix.Close(fd)
	if !errors.Is(berr, unix.EADDRINUSE) {
		t.Fatalf("bind to the reserved port %d: %v, want EADDRINUSE", p, berr)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_ = e.Stop(ctx)
	})
	if len(e.held) != 0 {
		t.Fatalf("%d ports still held after Start", len(e.held))
	}
	cl := dial(t, l)
	write(t, cl, "x")
	c := h.waitOpen(t)
	h.waitData(t, c, "x")
}

// TestListenerForKnowsGnetAddressByIdentity: listenerFor finds an accepted
// connection's listener by its local address's string once, then by the
// address value gnet hands every connection of that listener, so an accept
// formats no string; an equal address in another value still matches by
// string, and an unknown one matches nothing.
func TestListenerForKnowsGnetAddressByIdentity(t *testing.T) {
	a := &Listener{cfgKey: "127.0.0.1:7001", addr: "127.0.0.1:7001"}
	b := &Listener{cfgKey: "127.0.0.1:7002", addr: "127.0.0.1:7002"}
	u := &Listener{cfgKey: "/run/x.sock", addr: "/run/x.sock"}
	e := &Engine{listeners: []*Listener{a, b, u}}
	ga := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7001}
	gb := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7002}
	gu := &net.UnixAddr{Name: "/run/x.sock", Net: "unix"}
	for _, tc := range []struct {
		name string
		addr net.Addr
		want *Listener
	}{
		{"first connection of a", ga, a},
		{"first connection of b", gb, b},
		{"unix", gu, u},
		{"a again", ga, a},
		{"a's address in another value", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7001}, a},
		{"unknown", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7003}, nil},
		{"nil", nil, nil},
	} {
		if got := e.listenerFor(tc.addr); got != tc.want {
			t.Errorf("%s: listenerFor(%v) = %p, want %p", tc.name, tc.addr, got, tc.want)
		}
	}
	e.listenerFor(ga) // the last match above was another value: learn ga again
	for _, tc := range []struct {
		addr net.Addr
		want *Listener
	}{{ga, a}, {gb, b}} {
		var got *Listener
		if n := testing.AllocsPerRun(100, func() { got = e.listenerFor(tc.addr) }); n != 0 || got != tc.want {
			t.Errorf("listenerFor(%v): %v allocations, listener %p; want 0, %p", tc.addr, n, got, tc.want)
		}
	}
}
