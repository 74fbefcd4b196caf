package netio

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/sockactor/sockactor/internal/socktest"
)

// fillOnLoop writes to c on its loop until gnet holds more than min bytes
// (the client does not read, so the kernel's buffers fill first).
func fillOnLoop(t *testing.T, c *Conn, min int) {
	t.Helper()
	chunk := bytes.Repeat([]byte("w"), 64<<10)
	for i := 0; ; i++ {
		var q int
		onLoop(t, c, func() {
			if _, err := c.Write(chunk); err != nil {
				t.Errorf("Write: %v", err)
			}
			q = c.OutboundBuffered()
		})
		if q > min {
			return
		}
		if i > 4096 {
			t.Fatalf("gnet holds %d bytes after %d writes: the peer's kernel keeps taking them", q, i)
		}
	}
}

// waitsOf returns how many connections the engine's watch waits for.
func waitsOf(e *Engine) int {
	w := e.ww.Load()
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waits)
}

// TestNotifyDrainedWaitsForTheKernel: a drain wait costs no wake-up while
// the peer reads nothing, runs its function once when the peer has read
// enough, and leaves nothing in the watch afterwards.
func TestNotifyDrainedWaitsForTheKernel(t *testing.T) {
	h := newTestHandler(t)
	e, lns := startEngine(t, h, "tcp://127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	const low = 64 << 10
	fillOnLoop(t, c, 4*low)
	fired := make(chan int, 4)
	onLoop(t, c, func() {
		c.NotifyDrained(low, func() { fired <- c.OutboundBuffered() })
	})
	w := e.ww.Load()
	if w == nil {
		t.Fatal("no writability watch after a wait began")
	}
	// Nothing moves: no wake-up at all, whatever the time waited (a poll
	// would look every millisecond).
	looks := w.looks.Load()
	time.Sleep(300 * time.Millisecond)
	if n := w.looks.Load() - looks; n > 2 {
		t.Fatalf("%d wake-ups while the peer read nothing", n)
	}
	select {
	case q := <-fired:
		t.Fatalf("drained with %d bytes queued while the peer read nothing", q)
	default:
	}
	go func() { _, _ = io.Copy(io.Discard, cl) }()
	select {
	case q := <-fired:
		if q > low {
			t.Fatalf("fn ran with %d bytes queued, want at most %d", q, low)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no drain notice after the peer read")
	}
	socktest.WaitFor(t, "the wait to leave the watch", func() bool {
		var n int
		onLoop(t, c, func() { n = waitsOf(e) })
		return n == 0
	})
	if len(fired) != 0 {
		t.Fatal("fn ran twice")
	}
}

// TestWatchDropsClosedConnections: a connection that closes while it waits
// leaves the watch (before gnet closes its descriptor) and its function
// never runs; Stop ends the watch's goroutine and closes its descriptors.
func TestWatchDropsClosedConnections(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		return len(ents)
	}
	before := fds()
	h := newTestHandler(t)
	e := NewEngine(h, Options{EventLoops: 2})
	l, err := e.Listen("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	cl := dial(t, l)
	c := h.waitOpen(t)
	fillOnLoop(t, c, 256<<10)
	ran := make(chan struct{}, 1)
	onLoop(t, c, func() { c.NotifyDrained(0, func() { ran <- struct{}{} }) })
	if waitsOf(e) != 1 {
		t.Fatal("the wait is not in the watch")
	}
	_ = cl.SetLinger(0)
	_ = cl.Close() // RST
	h.waitClose(t, c, ReasonPeerReset)
	if n := waitsOf(e); n != 0 {
		t.Fatalf("%d waits left after the connection closed", n)
	}
	select {
	case <-ran:
		t.Fatal("a closed connection's drain function ran")
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if e.ww.Load() != nil {
		t.Fatal("the watch outlived Stop")
	}
	socktest.WaitFor(t, "descriptors to be released", func() bool { return fds() <= before })
}
