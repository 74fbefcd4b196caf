package netio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sockactor/sockactor/internal/socktest"
)

// TestPollerFD pins the one reach into gnet's loop that pausing needs: a
// gnet laid out otherwise fails here, not in production.
func TestPollerFD(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "tcp://127.0.0.1:0")
	dial(t, lns[0])
	c := h.waitOpen(t)
	var fd int
	onLoop(t, c, func() { fd = pollerFD(gcOf(c)) })
	if fd < 0 {
		t.Fatal("gnet's loop epoll descriptor not found: pausing reads cannot work with this gnet")
	}
	if link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err != nil || link != "anon_inode:[eventpoll]" {
		t.Fatalf("descriptor %d is %q (%v), want an epoll instance", fd, link, err)
	}
}

// writeUntilBlocked writes from the client until a write makes no progress
// for a while (the server's kernel buffer and the client's are full), and
// returns the bytes written; their content is a running counter.
func writeUntilBlocked(t *testing.T, cl net.Conn, limit int) int {
	t.Helper()
	chunk := make([]byte, 64<<10)
	sent := 0
	for sent < limit {
		for i := range chunk {
			chunk[i] = byte((sent + i) % 251)
		}
		_ = cl.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := cl.Write(chunk)
		sent += n
		if errors.Is(err, os.ErrDeadlineExceeded) {
			_ = cl.SetWriteDeadline(time.Time{})
			return sent
		}
		if err != nil {
			t.Fatalf("client write: %v", err)
		}
	}
	t.Fatalf("the client wrote %d bytes without blocking: the pause does not hold the peer", sent)
	return 0
}

func checkCounter(t *testing.T, got []byte) {
	t.Helper()
	for i, b := range got {
		if b != byte(i%251) {
			t.Fatalf("byte %d is %d, want %d: out of order or lost", i, b, i%251)
		}
	}
}

// TestPauseHoldsThePeer: a paused connection is not read, so the peer's
// writes block once the kernel's buffers are full, and a later resume
// delivers everything, in order; the pause survives gnet's own writes.
func TestPauseHoldsThePeer(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "tcp://127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	onLoop(t, c, func() {
		if !c.PauseReading(PauseApp) {
			t.Error("PauseReading refused on a TCP connection")
		}
	})
	sent := writeUntilBlocked(t, cl, 1<<30)
	if got := len(h.dataOf(c)); got != 0 {
		t.Fatalf("%d bytes delivered while paused", got)
	}
	// A write of ours (gnet sets EPOLLIN again when its buffer drains)
	// does not let reads through.
	big := bytes.Repeat([]byte("r"), 4<<20)
	onLoop(t, c, func() { _, _ = c.Write(big) })
	if _, err := io.ReadFull(cl, make([]byte, len(big))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if got := len(h.dataOf(c)); got != 0 {
		t.Fatalf("%d bytes delivered while paused, after a write", got)
	}
	onLoop(t, c, func() {
		c.PauseReading(PauseInbound) // a second source
		c.ResumeReading(PauseApp)
	})
	time.Sleep(50 * time.Millisecond)
	if got := len(h.dataOf(c)); got != 0 {
		t.Fatalf("%d bytes delivered while a source still pauses", got)
	}
	onLoop(t, c, func() { c.ResumeReading(PauseInbound) })
	socktest.WaitFor(t, "every byte", func() bool { return len(h.dataOf(c)) == sent })
	checkCounter(t, []byte(h.dataOf(c)))
}

// TestPausedResetIsSeenAtOnce: a peer's RST reaches OnClose while reads are
// paused, and the bytes read but never delivered are counted.
func TestPausedResetIsSeenAtOnce(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "tcp://127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	onLoop(t, c, func() { c.PauseReading(PauseApp) })
	writeUntilBlocked(t, cl, 1<<30)
	_ = cl.SetLinger(0)
	start := time.Now()
	_ = cl.Close()
	h.waitClose(t, c, ReasonPeerReset)
	d := time.Since(start)
	t.Logf("reset seen %v after the peer's RST while paused", d)
	if d > 2*time.Second {
		t.Fatalf("the reset took %v to be seen while paused", d)
	}
}

// TestPausedFINComesAfterTheData: a FIN while paused is reported only after
// the bytes before it, once reading resumes.
func TestPausedFINComesAfterTheData(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "tcp://127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	onLoop(t, c, func() { c.PauseReading(PauseApp) })
	payload := make([]byte, 3<<20)
	for i := range payload {
		payload[i] = byte(i % 251)
	}
	go func() {
		_, _ = cl.Write(payload)
		_ = cl.CloseWrite()
	}()
	time.Sleep(200 * time.Millisecond)
	if _, closed := h.reasonOf(c); closed {
		t.Fatal("the FIN was reported while paused, ahead of unread bytes")
	}
	onLoop(t, c, func() { c.ResumeReading(PauseApp) })
	h.waitClose(t, c, ReasonPeerClose)
	got := h.dataOf(c)
	if len(got) != len(payload) {
		t.Fatalf("%d of %d bytes before the FIN", len(got), len(payload))
	}
	checkCounter(t, []byte(got))
}

// TestPausedGracefulCloseSendsFIN: a graceful close of a connection whose
// peer's bytes wait unread (reads paused) still ends with FIN after every
// byte sent, not with RST; the unread bytes are counted as dropped.
func TestPausedGracefulCloseSendsFIN(t *testing.T) {
	h := newTestHandler(t)
	e, lns := startEngine(t, h, "tcp://127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	onLoop(t, c, func() { c.PauseReading(PauseApp) })
	write(t, cl, "hello\n") // unread in the kernel while paused
	time.Sleep(50 * time.Millisecond)
	big := bytes.Repeat([]byte("s"), 1<<20)
	onLoop(t, c, func() {
		if _, err := c.Write(big); err != nil {
			t.Errorf("Write: %v", err)
		}
		c.Close(ReasonLocalClose)
	})
	got, err := readUntilErr(t, cl)
	if err != io.EOF || len(got) != len(big) {
		t.Fatalf("peer read %d of %d bytes, then %v; want all, then EOF (FIN, not RST)", len(got), len(big), err)
	}
	if d := e.Stats().RecvDropped; d != 6 {
		t.Fatalf("RecvDropped = %d, want the 6 unread bytes", d)
	}
}
