package runtime_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	"github.com/sockactor/sockactor/winsock"
)

// Dialled UDP sockets (docs/SEMANTICS.md §6): connected, FD_CONNECT 0 at
// once, an ICMP refusal reported by the next operation.

// rawUDPEcho is a plain UDP echo server; it stops at cleanup.
func rawUDPEcho(t *testing.T) *net.UDPConn {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 70000)
		for {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteToUDP(buf[:n], from)
		}
	}()
	t.Cleanup(func() { _ = pc.Close(); <-done })
	return pc
}

func TestUDPDialConnectsAtOnceAndExchangesDatagrams(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		srv := rawUDPEcho(t)
		s := startServer(t, serverOpts{})
		var got sizes
		h := actors.HandlerFunc(func(c *actors.Context) {
			if m, ok := c.Message().(*actors.Received); ok {
				got.add(len(m.Data))
			}
		})
		pid, err := s.rt.Dial(ctx5(t), "udp://"+srv.LocalAddr().String(), h, actors.DialOptions{SocketOptions: actors.SocketOptions{Dispatch: mode}})
		if err != nil {
			t.Fatal(err)
		}
		id := actors.SocketIDOf(pid)
		if ev := s.rec.Wait(t, id, events.FDConnect); ev.Code != 0 {
			t.Fatalf("FD_CONNECT %d, want 0", ev.Code)
		}
		s.rec.Wait(t, id, events.FDWrite)
		for _, p := range []string{"one", "", "three"} {
			if _, err := s.rt.Send(ctx5(t), pid, []byte(p)); err != nil {
				t.Fatalf("Send %q: %v", p, err)
			}
		}
		socktest.WaitFor(t, "three echoed datagrams", func() bool { return len(got.get()) == 3 })
		if g := got.get(); g[0] != 3 || g[1] != 0 || g[2] != 5 {
			t.Fatalf("Received sizes %v, want [3 0 5]", g)
		}
		info, err := s.rt.Info(ctx5(t), pid)
		if err != nil {
			t.Fatal(err)
		}
		if info.Kind != "udp" || info.RemoteAddr != srv.LocalAddr().String() || info.State != "open" {
			t.Fatalf("dialled UDP info = %+v", info)
		}
		if err := s.rt.Close(ctx5(t), pid); err != nil {
			t.Fatal(err)
		}
		if ev := s.rec.CloseEvent(t, id); ev.Reason != "local-close" {
			t.Fatalf("FD_CLOSE %s", ev.Reason)
		}
	})
}

// closedUDPPort returns a loopback UDP address nobody listens on.
func closedUDPPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	_ = pc.Close()
	return addr
}

func TestUDPDialRefusedShowsOnNextOperation(t *testing.T) {
	for _, pull := range []bool{false, true} {
		name := "push"
		if pull {
			name = "pull"
		}
		t.Run(name, func(t *testing.T) {
			socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
				s := startServer(t, serverOpts{})
				pid, err := s.rt.Dial(ctx5(t), "udp://"+closedUDPPort(t), actors.HandlerFunc(func(*actors.Context) {}),
					actors.DialOptions{SocketOptions: actors.SocketOptions{Dispatch: mode, Pull: pull}})
				if err != nil {
					t.Fatal(err)
				}
				id := actors.SocketIDOf(pid)
				if ev := s.rec.Wait(t, id, events.FDConnect); ev.Code != 0 {
					t.Fatalf("FD_CONNECT %d, want 0 at once", ev.Code)
				}
				if _, err := s.rt.Send(ctx5(t), pid, []byte("knock")); err != nil {
					t.Fatalf("first Send: %v (the refusal cannot be known yet)", err)
				}
				var opErr error
				deadline := time.Now().Add(5 * time.Second)
				for opErr == nil && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
					if pull {
						_, opErr = s.rt.Recv(ctx5(t), pid, 100)
						if errors.Is(opErr, winsock.WSAEWOULDBLOCK) {
							opErr = nil
						}
					} else {
						_, opErr = s.rt.Send(ctx5(t), pid, []byte("knock"))
					}
				}
				if !errors.Is(opErr, winsock.WSAECONNREFUSED) {
					t.Fatalf("next operation after the ICMP refusal: %v, want WSAECONNREFUSED", opErr)
				}
				// Reported once; the socket stays usable, as Winsock's does.
				info, err := s.rt.Info(ctx5(t), pid)
				if err != nil || info.State != "open" {
					t.Fatalf("after the refusal: %+v, %v", info, err)
				}
				if s.rec.Count(id, events.FDClose) != 0 {
					t.Fatal("the refusal closed the socket")
				}
				if _, err := s.rt.Send(ctx5(t), pid, []byte("again")); err != nil {
					t.Fatalf("Send after the refusal was reported: %v", err)
				}
			})
		})
	}
}
