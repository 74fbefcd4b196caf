package runtime_test

import (
	"context"
	"errors"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// TestClosedListenerLingersThenIsReleased: a TCP listener closed while the
// runtime runs answers Info (state closed) for the linger, as a closed
// socket does, then its PID answers WSAENOTSOCK; a UDP listener, which
// still serves its peers once closed, keeps answering.
func TestClosedListenerLingersThenIsReleased(t *testing.T) {
	const linger = 300 * time.Millisecond
	rt, err := sockrt.New(sockrt.Options{EventLoops: 1, Linger: linger})
	if err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, rt, fdCount(t), 10*time.Second)
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	tcp, err := rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	udp, err := rt.Listen("udp://127.0.0.1:0", echo, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Taken before the first Close: each listener's linger starts inside
	// its Close, so time since closedAt bounds every linger's age from
	// above, however long the Closes take on a loaded machine.
	closedAt := time.Now()
	for _, ln := range []*sockrt.Listener{tcp, udp} {
		if err := rt.Close(ctx5(t), ln.PID()); err != nil {
			t.Fatal(err)
		}
	}
	for i, ln := range []*sockrt.Listener{tcp, udp} {
		info, err := rt.Info(ctx5(t), ln.PID())
		if time.Since(closedAt) < linger && (err != nil || info.State != actors.StateClosed.String()) {
			t.Fatalf("Info on the closed %s listener within its linger = %v, %v; want state closed", []string{"TCP", "UDP"}[i], info, err)
		}
	}
	socktest.WaitFor(t, "the closed listener's release", func() bool {
		_, err := rt.Info(ctx5(t), tcp.PID())
		return errors.Is(err, winsock.ErrNotSock)
	})
	if time.Since(closedAt) < linger {
		t.Fatalf("released %v after Close, before its linger (%v)", time.Since(closedAt), linger)
	}
}

// TestListenCloseChurnHoldsNoMemory: opening and closing TCP listeners on
// a running runtime, thousands of times, leaves neither memory nor
// goroutines behind once their lingers are over (each cycle held about
// 1.1 kB before closed listeners were released).
func TestListenCloseChurnHoldsNoMemory(t *testing.T) {
	rt, err := sockrt.New(sockrt.Options{EventLoops: 1, Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, rt, fdCount(t), 10*time.Second)
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	// One context: each ctx5 call holds a cleanup until the test ends.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cycle := func(n int) {
		for range n {
			ln, err := rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := rt.Close(ctx, ln.PID()); err != nil {
				t.Fatal(err)
			}
		}
	}
	// settled is the live heap once the lingers of the listeners closed
	// so far are over.
	settled := func() (uint64, int) {
		time.Sleep(100 * time.Millisecond)
		goruntime.GC()
		var ms goruntime.MemStats
		goruntime.ReadMemStats(&ms)
		return ms.HeapAlloc, goruntime.NumGoroutine()
	}
	cycle(200) // warm: pools, maps, the registry's buckets
	h0, g0 := settled()
	const n = 3000
	cycle(n)
	h1, g1 := settled()
	perCycle := (float64(h1) - float64(h0)) / n
	t.Logf("live heap %d -> %d B over %d Listen/Close cycles (%.0f B each); goroutines %d -> %d", h0, h1, n, perCycle, g0, g1)
	if perCycle > 200 {
		t.Errorf("%.0f B of live heap held per Listen/Close cycle, want none (under 200 B for noise)", perCycle)
	}
	if g1 > g0+2 {
		t.Errorf("goroutines %d -> %d over %d cycles", g0, g1, n)
	}
}
