package netio

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sockactor/sockactor/winsock"
)

// Listeners declared while the engine runs serve at once; closing one
// stops the accepting, frees the address, and leaves its connections
// alone (docs/SEMANTICS.md §5, Listeners).
func TestListenWhileRunning(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			h := echoHandler(t)
			e, _ := startEngine(t, h, "127.0.0.1:0")
			addr := "tcp://127.0.0.1:0"
			if network == "unix" {
				addr = "unix://" + filepath.Join(t.TempDir(), "late.sock")
			}
			l, err := e.Listen(addr)
			if err != nil {
				t.Fatalf("Listen while running: %v", err)
			}
			l.Serve(e)
			cl, err := net.Dial(network, l.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			write(t, cl, "late")
			readFull(t, cl, "late")
			c := h.waitOpen(t)
			if c.Listener() != l {
				t.Fatal("connection not filed under its listener")
			}
			if err := l.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := l.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if c2, err := net.Dial(network, l.Addr()); err == nil {
				c2.Close()
				t.Fatal("a closed listener still accepts")
			}
			write(t, cl, "still open") // the accepted connection is untouched
			readFull(t, cl, "still open")
			if network == "tcp" {
				// The address is free again: the same port can be listened on.
				l2, err := e.Listen("tcp://" + l.Addr())
				if err != nil {
					t.Fatalf("Listen on the freed address: %v", err)
				}
				l2.Serve(e)
				if _, err := e.Listen("tcp://" + l2.Addr()); !errors.Is(err, syscall.EADDRINUSE) {
					t.Fatalf("Listen on a live address: %v, want WSAEADDRINUSE", err)
				}
			}
		})
	}
}

// A listener gnet bound at Start closes too: the address is free at once,
// its connections stay, the engine keeps serving on its other listeners.
func TestCloseStartListener(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			h := echoHandler(t)
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = "unix://" + filepath.Join(t.TempDir(), "start.sock")
			}
			e, lns := startEngine(t, h, addr, "127.0.0.1:0")
			l, other := lns[0], lns[1]
			cl, err := net.Dial(network, l.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			write(t, cl, "before")
			readFull(t, cl, "before")
			for range 2 { // idempotent
				if err := l.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			if c2, err := net.Dial(network, l.Addr()); err == nil {
				c2.Close()
				t.Fatal("a closed listener still accepts")
			}
			write(t, cl, "after")
			readFull(t, cl, "after")
			again, err := e.Listen(network + "://" + l.Addr())
			if err != nil {
				t.Fatalf("Listen on the released address: %v", err)
			}
			again.Serve(e)
			c3, err := net.Dial(network, again.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c3.Close()
			write(t, c3, "anew")
			readFull(t, c3, "anew")
			c4 := dial(t, other)
			write(t, c4, "other")
			readFull(t, c4, "other")
		})
	}
}

// A UDP listener declared while running gets an engine of its own at
// Serve: its datagrams reach peers like any UDP listener's.
func TestListenUDPWhileRunning(t *testing.T) {
	h := echoHandler(t)
	e, _ := startEngine(t, h, "127.0.0.1:0")
	l, err := e.Listen("udp://127.0.0.1:0")
	if err != nil {
		t.Fatalf("UDP Listen while running: %v", err)
	}
	if err := l.Serve(e); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := e.Listen("udp://" + l.Addr()); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("a second UDP listener on %s: %v, want WSAEADDRINUSE", l.Addr(), err)
	}
	cl, err := net.Dial("udp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	write(t, cl, "datagram")
	buf := make([]byte, 64)
	_ = cl.SetReadDeadline(time.Now().Add(waitTimeout))
	n, err := cl.Read(buf)
	if err != nil || string(buf[:n]) != "datagram" {
		t.Fatalf("echo %q, %v", buf[:n], err)
	}
	if e.Stats().Peers != 1 {
		t.Fatalf("peers %d, want 1", e.Stats().Peers)
	}
}

func TestCloseUDPListener(t *testing.T) {
	_, lns := startEngine(t, newTestHandler(t), "udp://127.0.0.1:0")
	if err := lns[0].Close(); !errors.Is(err, winsock.ErrOpNotSupp) {
		t.Fatalf("Close of a UDP listener: %v, want WSAEOPNOTSUPP", err)
	}
}

// A listener closed before Start is never bound: its port is free once
// the engine runs (nothing accepts there, nothing resets), and the
// engine serves its other listeners.
func TestCloseListenerBeforeStart(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := freeTCPAddr(t)
			if network == "unix" {
				addr = filepath.Join(t.TempDir(), "early.sock")
			}
			h := echoHandler(t)
			e := NewEngine(h, Options{EventLoops: 2})
			l, err := e.Listen(network + "://" + addr)
			if err != nil {
				t.Fatal(err)
			}
			other, err := e.Listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // idempotent
				if err := l.Close(); err != nil {
					t.Fatalf("Close before Start: %v", err)
				}
			}
			if err := e.Start(context.Background()); err != nil {
				t.Fatalf("Start: %v", err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				_ = e.Stop(ctx)
			})
			free, err := net.Listen(network, addr)
			if err != nil {
				t.Fatalf("the closed listener's address is taken after Start: %v", err)
			}
			_ = free.Close()
			c := dial(t, other)
			write(t, c, "other")
			readFull(t, c, "other")
		})
	}
}

// freeTCPAddr returns a loopback address with a port free a moment ago.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
