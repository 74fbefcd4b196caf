package runtime_test

import (
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/internal/socktest"
	"github.com/sockactor/sockactor/netio"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// listenCase is one network of the listener tests: how to name a fixed
// address of it, and how to hold that address from outside the runtime as
// another process would.
type listenCase struct {
	name string
	addr func(t *testing.T) string // a fresh fixed address, as Listen takes it
	hold func(t *testing.T, addr string) io.Closer
}

func listenCases() []listenCase {
	port := func(t *testing.T) string { return strconv.Itoa(socktest.FreePort(t)) }
	holdStream := func(network string) func(t *testing.T, addr string) io.Closer {
		return func(t *testing.T, addr string) io.Closer {
			_, address, err := netio.ParseAddr(addr)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen(network, address)
			if err != nil {
				t.Fatal(err)
			}
			return ln
		}
	}
	return []listenCase{
		{"tcp", func(t *testing.T) string { return "tcp://127.0.0.1:" + port(t) }, holdStream("tcp")},
		{"tcp4", func(t *testing.T) string { return "tcp4://127.0.0.1:" + port(t) }, holdStream("tcp4")},
		{"unix", func(t *testing.T) string { return "unix://" + socktest.UnixPath(t) }, holdStream("unix")},
		{"udp", func(t *testing.T) string { return "udp://127.0.0.1:" + port(t) }, func(t *testing.T, addr string) io.Closer {
			pc, err := net.ListenPacket("udp", addr[len("udp://"):])
			if err != nil {
				t.Fatal(err)
			}
			return pc
		}},
	}
}

// isAddrInUse reports whether err is WSAEADDRINUSE in every way a caller
// may test it.
func isAddrInUse(err error) bool {
	return errors.Is(err, winsock.ErrAddrInUse) && errors.Is(err, syscall.EADDRINUSE) && winsock.CodeOf(err, winsock.OK) == winsock.WSAEADDRINUSE
}

// echoes checks that the listener at addr (as Listen took it) answers: a
// round trip through the echo handler, on a connection or a datagram.
func echoes(t *testing.T, addr string) {
	t.Helper()
	network, address, err := netio.ParseAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout(network, address, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo from %s: %q, %v", addr, buf, err)
	}
}

// TestListenTwiceIsAddrInUse: an address declared twice in one runtime is
// refused by the second Listen with WSAEADDRINUSE (errors.Is EADDRINUSE
// too), and the first listener starts and serves on the address it asked
// for.
func TestListenTwiceIsAddrInUse(t *testing.T) {
	for _, tc := range listenCases() {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			rt, err := sockrt.New(sockrt.Options{EventLoops: 1})
			if err != nil {
				t.Fatal(err)
			}
			shutdownAtEnd(t, rt, fdCount(t), 5*time.Second)
			if _, err := rt.Listen(addr, echo, actors.ListenOptions{}); err != nil {
				t.Fatal(err)
			}
			ln, err := rt.Listen(addr, echo, actors.ListenOptions{})
			if ln != nil || !isAddrInUse(err) {
				t.Fatalf("second Listen(%s) = %v, %v; want WSAEADDRINUSE", addr, ln, err)
			}
			if err := rt.Start(ctx5(t)); err != nil {
				t.Fatalf("Start with the first listener: %v", err)
			}
			echoes(t, addr)
		})
	}
}

// TestListenOnAnAddressHeldElsewhereIsAddrInUse: an address another
// process listens on (here a listener of the test's own) makes Start fail
// with WSAEADDRINUSE; the failed Start leaves no descriptor behind, and
// after Shutdown no goroutine either.
func TestListenOnAnAddressHeldElsewhereIsAddrInUse(t *testing.T) {
	for _, tc := range listenCases() {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			held := tc.hold(t, addr)
			defer held.Close()
			defer goleak.VerifyNone(t, append(socktest.LeakOptions(), goleak.IgnoreCurrent())...)
			fds := fdCount(t)
			rt, err := sockrt.New(sockrt.Options{EventLoops: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rt.Listen(addr, echo, actors.ListenOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := rt.Start(ctx5(t)); !isAddrInUse(err) {
				t.Fatalf("Start on %s held elsewhere: %v, want WSAEADDRINUSE", addr, err)
			}
			if n := fdCount(t); n > fds {
				t.Errorf("%d descriptors after the failed Start, %d before New", n, fds)
			}
			if err := rt.Shutdown(ctx5(t)); err != nil {
				t.Fatalf("Shutdown after the failed Start: %v", err)
			}
			socktest.WaitFor(t, "descriptors to be released", func() bool { return fdCount(t) <= fds })
		})
	}
}

// TestListenerClosedBeforeStartIsNeverBound: a TCP or unix listener closed
// before Start (a Close to its PID) is left out when Start binds: its
// address is free while the runtime runs, and the other listener serves.
func TestListenerClosedBeforeStartIsNeverBound(t *testing.T) {
	for _, tc := range listenCases() {
		if tc.name == "udp" {
			continue // a UDP listener serves until the runtime stops (docs/SEMANTICS.md §5)
		}
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			rt, err := sockrt.New(sockrt.Options{EventLoops: 1})
			if err != nil {
				t.Fatal(err)
			}
			shutdownAtEnd(t, rt, fdCount(t), 5*time.Second)
			closed, err := rt.Listen(addr, echo, actors.ListenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			other := tc.addr(t)
			if _, err := rt.Listen(other, echo, actors.ListenOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := rt.Close(ctx5(t), closed.PID()); err != nil {
				t.Fatalf("Close before Start: %v", err)
			}
			if err := rt.Start(ctx5(t)); err != nil {
				t.Fatalf("Start: %v", err)
			}
			tc.hold(t, addr).Close() // fails the test if the address is taken
			echoes(t, other)
		})
	}
}
