package netio

import (
	"context"
	"errors"
	"net"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/internal/socktest"
	"github.com/sockactor/sockactor/winsock"
)

// checkWorks sends a few bytes to l (on 127.0.0.1, whatever address it is
// bound to) and waits for them to arrive at h: the listener is bound where
// it says and serves. TCP or UDP.
func checkWorks(t *testing.T, h *testHandler, l *Listener) {
	t.Helper()
	network := "tcp"
	if l.Datagram() {
		network = "udp"
	}
	to := net.JoinHostPort("127.0.0.1", portOf(t, l.Addr()))
	cl, err := net.DialTimeout(network, to, waitTimeout)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, to, err)
	}
	defer cl.Close()
	write(t, cl, "hello")
	c := h.waitOpen(t)
	if c.Listener() != l {
		t.Fatalf("connection to %s attributed to %s", l.Addr(), c.Listener().Addr())
	}
	h.waitData(t, c, "hello")
}

// TestEngineListenIsHonest: a listener binds the address it was given or
// fails with WSAEADDRINUSE; it never moves to another port. An address
// declared twice (once resolved) is refused by the second Listen; two
// addresses the kernel will not let share a port are refused by Start,
// which then leaves nothing bound, no descriptor and no goroutine; TCP and
// UDP on one port are two addresses. The wildcard cases bind every
// interface for a moment (what the kernel says about a wildcard beside
// 127.0.0.1 is the point); every byte goes to 127.0.0.1.
func TestEngineListenIsHonest(t *testing.T) {
	tests := []struct {
		name        string
		first, then string // "P" stands for a free port
		refusedAt   string // "Listen", "Start", or "" (both serve)
	}{
		{"tcp twice", "tcp://127.0.0.1:P", "tcp://127.0.0.1:P", "Listen"},
		{"tcp then tcp4", "tcp://127.0.0.1:P", "tcp4://127.0.0.1:P", "Listen"},
		{"tcp wildcard then tcp4 wildcard", "tcp://:P", "tcp4://:P", "Listen"},
		{"tcp4 wildcard then tcp loopback", "tcp4://0.0.0.0:P", "tcp://127.0.0.1:P", "Start"},
		{"tcp loopback then tcp4 wildcard", "tcp://127.0.0.1:P", "tcp4://0.0.0.0:P", "Start"},
		{"tcp dual-stack then tcp4 wildcard", "tcp://:P", "tcp4://0.0.0.0:P", "Start"},
		{"udp twice", "udp://127.0.0.1:P", "udp4://127.0.0.1:P", "Listen"},
		{"udp wildcard then udp loopback", "udp://0.0.0.0:P", "udp://127.0.0.1:P", "Start"},
		{"tcp and udp", "tcp://127.0.0.1:P", "udp://127.0.0.1:P", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, append(leakOptions, goleak.IgnoreCurrent())...)
			fds := countFDs(t)
			p := strconv.Itoa(socktest.FreePort(t))
			first, then := strings.ReplaceAll(tc.first, "P", p), strings.ReplaceAll(tc.then, "P", p)
			h := newTestHandler(t)
			e := NewEngine(h, Options{EventLoops: 1})
			l1, err := e.Listen(first)
			if err != nil {
				t.Fatalf("Listen(%s): %v", first, err)
			}
			l2, err := e.Listen(then)
			if tc.refusedAt == "Listen" {
				if l2 != nil || !errors.Is(err, winsock.ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) {
					t.Fatalf("Listen(%s) after Listen(%s) = %v, %v; want WSAEADDRINUSE", then, first, l2, err)
				}
			} else if err != nil {
				t.Fatalf("Listen(%s): %v", then, err)
			}
			err = e.Start(context.Background())
			if tc.refusedAt == "Start" {
				if !errors.Is(err, winsock.ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) || winsock.CodeOf(err, winsock.OK) != winsock.WSAEADDRINUSE {
					t.Fatalf("Start with %s and %s: %v, want WSAEADDRINUSE", first, then, err)
				}
				// Nothing is bound, before Stop even: both addresses are free.
				if n := countFDs(t); n > fds {
					t.Errorf("%d descriptors after the failed Start, %d before", n, fds)
				}
				for _, a := range []string{first, then} {
					network, address, _ := ParseAddr(a)
					if isUDP(network) {
						pc, err := net.ListenPacket(network, address)
						if err != nil {
							t.Fatalf("%s still bound after the failed Start: %v", a, err)
						}
						pc.Close()
						continue
					}
					ln, err := net.Listen(network, address)
					if err != nil {
						t.Fatalf("%s still bound after the failed Start: %v", a, err)
					}
					ln.Close()
				}
				if err := e.Stop(context.Background()); err != nil {
					t.Fatalf("Stop after the failed Start: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			defer func() {
				if err := e.Stop(context.Background()); err != nil {
					t.Errorf("Stop: %v", err)
				}
				socktest.WaitFor(t, "descriptors to be released", func() bool { return countFDs(t) <= fds })
			}()
			for _, l := range []*Listener{l1, l2} {
				if l == nil {
					continue
				}
				if got := portOf(t, l.Addr()); got != p {
					t.Fatalf("%s listens on port %s, want %s", l.Network(), got, p)
				}
				checkWorks(t, h, l)
			}
		})
	}
}

// TestEngineListenPortZeroIsNeverADuplicate: port 0 asks for any free
// port, so two such listeners on one host, under one network spelling or
// two, both bind (distinct ports) and serve.
func TestEngineListenPortZeroIsNeverADuplicate(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", "tcp4://127.0.0.1:0", "udp://127.0.0.1:0", "udp4://127.0.0.1:0")
	seen := map[string]bool{}
	for _, l := range lns {
		key := l.Network()[:3] + " " + l.Addr()
		if seen[key] || portOf(t, l.Addr()) == "0" {
			t.Fatalf("%s: two listeners on %s, or no real port", l.Network(), l.Addr())
		}
		seen[key] = true
		checkWorks(t, h, l)
	}
}

// TestEngineDefaultEventLoopsFollowGOMAXPROCS: with EventLoops 0 the engine
// runs GOMAXPROCS loops (Go's default follows the CPU quota), not NumCPU.
// GOMAXPROCS is set one above NumCPU so the two cannot agree; the count is
// checked on gnet itself: connections opened one after the other go to the
// loop with the fewest (LeastConnections), so twice as many connections
// as loops reach every loop and no more.
func TestEngineDefaultEventLoopsFollowGOMAXPROCS(t *testing.T) {
	want := goruntime.NumCPU() + 1
	old := goruntime.GOMAXPROCS(want)
	h := newTestHandler(t)
	e := NewEngine(h, Options{})
	goruntime.GOMAXPROCS(old) // the count was taken by NewEngine
	if got := e.EventLoops(); got != want {
		t.Fatalf("EventLoops() = %d with GOMAXPROCS %d, want %d", got, want, want)
	}
	l, err := e.Listen("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	for range 2 * want {
		dial(t, l)
		h.waitOpen(t) // registered on its loop before the next accept picks one
	}
	if got := len(*e.traffic.loops.Load()); got != want {
		t.Fatalf("connections spread over %d loops, want %d", got, want)
	}
}
