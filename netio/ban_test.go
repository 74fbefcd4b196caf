package netio

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/sockactor/sockactor/internal/socktest"
	"github.com/sockactor/sockactor/winsock"
)

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
			if r := ReasonRecvBan; r.Code() != winsock.WSAECONNABORTED || !r.Local() {
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
		if _, err := c.Write([]byte("x")); !errors.Is(err, winsock.ErrNotConn) {
			t.Errorf("Write after close: %v, want WSAENOTCONN", err)
		}
		if err := c.ShutdownSend(); !errors.Is(err, winsock.ErrNotConn) {
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
