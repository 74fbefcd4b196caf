package netio

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/sockactor/sockactor/internal/socktest"
)

// runnable wraps fn as a gnet loop task.
func runnable(fn func()) gnet.Runnable {
	return gnet.RunnableFunc(func(context.Context) error { fn(); return nil })
}

// TestTraffic checks the engine's byte totals over live connections, after
// they close, with banned bytes, and once the engine has stopped: every
// byte counted once, and the totals never go down.
func TestTraffic(t *testing.T) {
	h := newTestHandler(t)
	h.onData = func(c *Conn, data []byte) { _, _ = c.Write(data) } // echo, on the loop
	e, lns := startEngine(t, h, "tcp://127.0.0.1:0")
	ctx := context.Background()
	if got := e.Traffic(ctx); got != (TrafficStats{}) {
		t.Fatalf("Traffic before any connection = %+v", got)
	}

	// Two live connections, echoing.
	a, b := dial(t, lns[0]), dial(t, lns[0])
	// The two loops may announce them in either order: match by address.
	ca, cb := h.waitOpen(t), h.waitOpen(t)
	if ca.RemoteAddr() != a.LocalAddr().String() {
		ca, cb = cb, ca
	}
	if ca.RemoteAddr() != a.LocalAddr().String() || cb.RemoteAddr() != b.LocalAddr().String() {
		t.Fatalf("opened %s and %s, dialled from %s and %s", ca.RemoteAddr(), cb.RemoteAddr(), a.LocalAddr(), b.LocalAddr())
	}
	_, _ = a.Write([]byte("hello"))
	readFull(t, a, "hello")
	_, _ = b.Write([]byte(strings.Repeat("x", 1000)))
	readFull(t, b, strings.Repeat("x", 1000))
	if got, want := e.Traffic(ctx), (TrafficStats{BytesIn: 1005, BytesOut: 1005}); got != want {
		t.Fatalf("Traffic with two live connections = %+v, want %+v", got, want)
	}

	// One closes: its bytes stay counted.
	_ = a.Close()
	h.waitClose(t, ca, ReasonPeerClose)
	if got, want := e.Traffic(ctx), (TrafficStats{BytesIn: 1005, BytesOut: 1005}); got != want {
		t.Fatalf("Traffic after a close = %+v, want %+v", got, want)
	}

	// Banned bytes under the discard policy: read, dropped, counted.
	onLoop(t, cb, func() {
		cb.SetPolicy(BanDiscard)
		cb.ShutdownRecv(0)
	})
	_, _ = b.Write([]byte("banned!"))
	socktest.WaitFor(t, "banned bytes", func() bool { return e.Traffic(ctx).BannedBytes == 7 })
	if got, want := e.Traffic(ctx), (TrafficStats{BytesIn: 1012, BytesOut: 1005, BannedBytes: 7}); got != want {
		t.Fatalf("Traffic after the ban = %+v, want %+v", got, want)
	}

	// Once the engine has stopped, the totals are final and still there.
	sctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if err := e.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	if got, want := e.Traffic(ctx), (TrafficStats{BytesIn: 1012, BytesOut: 1005, BannedBytes: 7}); got != want {
		t.Fatalf("Traffic after Stop = %+v, want %+v", got, want)
	}
}

// TestTrafficChurn opens and closes many connections on both loops and
// checks that the live lists end empty and the totals add up.
func TestTrafficChurn(t *testing.T) {
	h := newTestHandler(t)
	h.onData = func(c *Conn, data []byte) { _, _ = c.Write(data) }
	e, lns := startEngine(t, h, "tcp://127.0.0.1:0")
	const n = 40
	var conns []*Conn
	for i := range n {
		cl := dial(t, lns[0])
		c := h.waitOpen(t)
		conns = append(conns, c)
		msg := strings.Repeat("z", i+1)
		_, _ = cl.Write([]byte(msg))
		readFull(t, cl, msg)
		if i%2 == 0 {
			_ = cl.Close()
			h.waitClose(t, c, ReasonPeerClose)
		}
	}
	want := uint64(n * (n + 1) / 2)
	if got := e.Traffic(context.Background()); got.BytesIn != want || got.BytesOut != want {
		t.Fatalf("Traffic = %+v, want %d each way", got, want)
	}
	live := 0
	for _, p := range *e.traffic.loops.Load() {
		done := make(chan int, 1)
		if err := p.el.Execute(context.Background(), runnable(func() { done <- len(p.live) })); err != nil {
			t.Fatal(err)
		}
		select {
		case k := <-done:
			live += k
		case <-time.After(waitTimeout):
			t.Fatal("loop did not answer")
		}
	}
	if live != n/2 {
		t.Fatalf("%d connections listed live, want %d", live, n/2)
	}
}
