package netio

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/internal/socktest"
	"github.com/sockactor/sockactor/winsock"
)

// loopbackPair returns a connected loopback pair: the server side as a raw
// descriptor (ours to close) and the client as a *net.TCPConn.
func loopbackPair(t *testing.T) (fd int, client *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := sc.(*net.TCPConn).File() // a blocking duplicate
	sc.Close()
	if err != nil {
		t.Fatal(err)
	}
	fd, err = unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd, cl.(*net.TCPConn)
}

// TestResetPending: the check OnClose makes when gnet reports io.EOF.
func TestResetPending(t *testing.T) {
	tests := []struct {
		name    string
		finSent bool
		peer    func(c *net.TCPConn)
		reset   bool
	}{
		{"peer FIN", false, func(c *net.TCPConn) { _ = c.CloseWrite() }, false},
		{"peer close", false, func(c *net.TCPConn) { _ = c.Close() }, false},
		{"peer RST", false, func(c *net.TCPConn) { _ = c.SetLinger(0); _ = c.Close() }, true},
		{"peer RST after FIN", false, func(c *net.TCPConn) {
			_ = c.CloseWrite()
			time.Sleep(20 * time.Millisecond) // let the FIN land first; either order is a reset
			_ = c.SetLinger(0)
			_ = c.Close()
		}, true},
		{"both FIN", true, func(c *net.TCPConn) { _ = c.Close() }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fd, cl := loopbackPair(t)
			if tc.finSent {
				if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
					t.Fatal(err)
				}
			}
			tc.peer(cl)
			// Wait until the socket has seen the peer's segment (readable).
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if _, err := unix.Poll(pfd, 5000); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // a RST after the FIN may follow it
			if got := resetPending(fd, tc.finSent); got != tc.reset {
				t.Fatalf("resetPending = %v, want %v", got, tc.reset)
			}
		})
	}
}

// TestTakeOutbound fails loudly if gnet's connection layout changes under
// the reflection that takes its outbound buffer over (gnetinternal.go).
func TestTakeOutbound(t *testing.T) {
	const size = 8 << 20 // far over the socket buffers: gnet must buffer most
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	var took []byte
	var ok bool
	queued := 0
	onLoop(t, c, func() {
		if _, err := c.Write(bytes.Repeat([]byte("z"), size)); err != nil {
			t.Error(err)
		}
		queued = gcOf(c).OutboundBuffered()
		took, ok = takeOutbound(gcOf(c))
	})
	if !ok || queued == 0 || len(took) != queued || gcOf(c) == nil {
		t.Fatalf("takeOutbound = %d bytes, %v; gnet had %d queued", len(took), ok, queued)
	}
	onLoop(t, c, func() {
		if n := gcOf(c).OutboundBuffered(); n != 0 {
			t.Errorf("gnet still holds %d bytes", n)
		}
	})
	_ = cl
}

// TestEngineHalfOpen: after the peer's FIN the connection's send side
// outlives gnet's descriptor; every byte queued before and after the FIN
// arrives, in order, then FIN.
func TestEngineHalfOpen(t *testing.T) {
	const before, after = 6 << 20, 2 << 20
	h := newTestHandler(t)
	e, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	want := append(bytes.Repeat([]byte("a"), before), bytes.Repeat([]byte("b"), after)...)
	onLoop(t, c, func() {
		if _, err := c.Write(want[:before]); err != nil {
			t.Error(err)
		}
	})
	if err := cl.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	h.waitClose(t, c, ReasonPeerClose)
	onLoop(t, c, func() {
		if !c.isHalfOpen() || !c.writable() || c.SendCode() != winsock.OK {
			t.Errorf("after the peer's FIN: HalfOpen %v Writable %v SendCode %v", c.isHalfOpen(), c.writable(), c.SendCode())
		}
		if n, err := c.Write(want[before:]); err != nil || n != after {
			t.Errorf("Write on a half-open connection = %d, %v", n, err)
		}
		if err := c.ShutdownSend(); err != nil {
			t.Error(err)
		}
		if _, err := c.Write([]byte("x")); err != winsock.ErrShutdown {
			t.Errorf("Write after ShutdownSend: %v", err)
		}
	})
	_ = cl.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(cl)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("client read %d bytes (%v), want %d in order", len(got), err, len(want))
	}
	if st := e.Stats(); st.HalfOpen != 1 || st.SendDropped != 0 {
		t.Fatalf("stats %+v, want one half-open, nothing dropped", st)
	}
	onLoop(t, c, func() { c.Close(ReasonLocalClose) })
	socktest.WaitFor(t, "the half-open connection to close", func() bool { return e.Stats().HalfOpen == 0 })
}

// TestEngineGracefulCloseKeepsUnsentBytes: Close(ReasonLocalClose) with
// more queued than the socket takes still delivers every byte, whether gnet
// holds them in one piece or spread over its ring and its list (many small
// writes: gnet's own Peek(n) refuses that buffer).
func TestEngineGracefulCloseKeepsUnsentBytes(t *testing.T) {
	tests := []struct {
		name         string
		writes, size int
	}{
		{"one 8 MiB write", 1, 8 << 20},
		{"2000 writes of 4 KiB", 2000, 4 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler(t)
			e, lns := startEngine(t, h, "127.0.0.1:0")
			cl := dial(t, lns[0])
			c := h.waitOpen(t)
			onLoop(t, c, func() {
				for range tc.writes {
					if _, err := c.Write(bytes.Repeat([]byte("q"), tc.size)); err != nil {
						t.Error(err)
					}
				}
				c.Close(ReasonLocalClose)
			})
			_ = cl.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(cl)
			if err != nil || len(got) != tc.writes*tc.size {
				t.Fatalf("client read %d bytes (%v), want %d then EOF", len(got), err, tc.writes*tc.size)
			}
			if st := e.Stats(); st.SendDropped != 0 {
				t.Fatalf("SendDropped = %d", st.SendDropped)
			}
		})
	}
}

// TestTakePiece: the half-open writer's pieces take whole buffers up to the
// bound, split the one that crosses it, and leave the rest in order.
func TestTakePiece(t *testing.T) {
	cases := []struct {
		name      string
		lens      []int
		max       int
		piece     []int
		restLens  []int
		wantTaken int
	}{
		{"all fit", []int{3, 5}, 10, []int{3, 5}, nil, 8},
		{"exact", []int{4, 6}, 10, []int{4, 6}, nil, 10},
		{"split the crossing buffer", []int{4, 10, 2}, 10, []int{4, 6}, []int{4, 2}, 10},
		{"one large buffer", []int{25}, 10, []int{10}, []int{15}, 10},
		{"stop after the bound", []int{10, 1}, 10, []int{10}, []int{1}, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var q [][]byte
			var all []byte
			next := byte(0)
			for _, n := range tc.lens {
				b := make([]byte, n)
				for i := range b {
					b[i] = next
					next++
				}
				q = append(q, b)
				all = append(all, b...)
			}
			piece, rest, n := takePiece(q, tc.max)
			if n != tc.wantTaken {
				t.Fatalf("took %d bytes, want %d", n, tc.wantTaken)
			}
			var got []byte
			var pl, rl []int
			for _, b := range piece {
				pl = append(pl, len(b))
				got = append(got, b...)
			}
			for _, b := range rest {
				rl = append(rl, len(b))
				got = append(got, b...)
			}
			if fmt.Sprint(pl) != fmt.Sprint(tc.piece) || fmt.Sprint(rl) != fmt.Sprint(tc.restLens) {
				t.Fatalf("piece %v rest %v, want %v and %v", pl, rl, tc.piece, tc.restLens)
			}
			if !bytes.Equal(got, all) {
				t.Fatal("the piece and the rest are not the queue's bytes in order")
			}
		})
	}
}
