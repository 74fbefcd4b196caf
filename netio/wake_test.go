package netio

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sockactor/sockactor/winsock"
)

// TestWakeRunSkipsOwnConn: run inside a connection's OnTraffic leaves that
// connection's entries queued, in order, and runs the others'; the task's
// run (skip nil) runs the rest; the engine-wide count of loops with work
// follows.
func TestWakeRunSkipsOwnConn(t *testing.T) {
	var b trafficBook
	var w loopWake
	a, c := &Conn{}, &Conn{}
	var got []string
	rec := func(name string) func(*Conn) { return func(*Conn) { got = append(got, name) } }
	w.q = []wakeEntry{{a, rec("a1")}, {c, rec("c1")}, {a, rec("a2")}, {c, rec("c2")}}
	b.waking.Store(1)
	w.run(&b, a)
	if want := "c1 c2"; join(got) != want {
		t.Fatalf("inside a's read ran %q, want %q", join(got), want)
	}
	if len(w.q) != 2 || b.waking.Load() != 1 {
		t.Fatalf("left %d entries, waking %d; want 2, 1", len(w.q), b.waking.Load())
	}
	w.run(&b, c) // nothing of c left; a's still wait
	w.run(&b, nil)
	if want := "c1 c2 a1 a2"; join(got) != want {
		t.Fatalf("ran %q, want %q", join(got), want)
	}
	if len(w.q) != 0 || b.waking.Load() != 0 {
		t.Fatalf("left %d entries, waking %d; want 0, 0", len(w.q), b.waking.Load())
	}
}

func join(s []string) string { return strings.Join(s, " ") }

// TestWakeOnLoop: work woken from another goroutine runs on the
// connection's loop, in order, and Wake fails with ErrNetDown once the
// engine has stopped.
func TestWakeOnLoop(t *testing.T) {
	h := newTestHandler(t)
	e, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	const n = 1000
	ran := make(chan int, n)
	next := 0
	for i := range n {
		if err := c.Wake(func(c *Conn) {
			if c.inTraffic {
				t.Error("woken work ran inside the connection's own OnData")
			}
			ran <- next // next is loop-owned: only the loop touches it
			next++
		}); err != nil {
			t.Fatalf("Wake: %v", err)
		}
		if i%100 == 0 {
			write(t, cl, "x") // reads interleave with the wakes
		}
	}
	for i := range n {
		select {
		case got := <-ran:
			if got != i {
				t.Fatalf("wake %d ran as %d", i, got)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("wake %d never ran", i)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c.Wake(func(*Conn) { t.Error("woken work ran after Stop") }); !errors.Is(err, winsock.ErrNetDown) {
		t.Fatalf("Wake after Stop = %v, want ErrNetDown", err)
	}
}
