package runtime

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/fleet"
	"github.com/sockactor/sockactor/winsock"
)

// TestListenersTrackedAcrossListenAndClose: rt.fleet.listeners, the list a
// fleet registration publishes, holds the listeners Listen made that no
// request closed, in order: before and after Start, whether closed by a
// Close or a Stop to the PID; a second close changes nothing; and a close
// racing Shutdown neither blocks nor panics (the hook takes rt.mu on the
// closing goroutine, which holds none of the runtime's locks).
func TestListenersTrackedAcrossListenAndClose(t *testing.T) {
	rt, err := New(Options{EventLoops: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer func() { _ = rt.Shutdown(ctx) }()
	h := actors.HandlerFunc(func(*actors.Context) {})
	listen := func() *Listener {
		t.Helper()
		l, err := rt.Listen("tcp://127.0.0.1:0", h, actors.ListenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	closeIt := func(l *Listener) {
		t.Helper()
		if err := rt.Close(ctx, l.PID()); err != nil {
			t.Fatal(err)
		}
	}
	tracked := func(want ...*Listener) {
		t.Helper()
		rt.mu.Lock()
		got := slices.Clone(rt.fleet.listeners)
		ls := rt.fleetListeners()
		rt.mu.Unlock()
		if !slices.Equal(got, want) {
			t.Fatalf("tracked %v, want %v", got, want)
		}
		for i, l := range want {
			addr := ""
			if a := l.Addr(); a != nil {
				addr = a.String()
			}
			if w := (fleet.Listener{ID: l.ID(), Network: "tcp", Addr: addr}); ls[i] != w {
				t.Fatalf("fleet listener %d: %+v, want %+v", i, ls[i], w)
			}
		}
	}

	a, b := listen(), listen()
	tracked(a, b)
	closeIt(b) // before Start
	tracked(a)
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	tracked(a)
	if a.Addr() == nil {
		t.Fatal("no address after Start")
	}
	c, d := listen(), listen()
	tracked(a, c, d)
	closeIt(c)
	tracked(a, d)
	closeIt(c) // closed already: the hook ran once
	tracked(a, d)
	rt.system.Root.Stop(d.PID()) // a Stop closes it too
	tracked(a)

	e := listen()
	tracked(a, e)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = rt.Close(ctx, e.PID()) }() // an error once released
	go func() {
		defer wg.Done()
		if err := rt.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()
	if _, err := rt.Listen("tcp://127.0.0.1:0", h, actors.ListenOptions{}); winsock.CodeOf(err, winsock.OK) != winsock.WSAENETDOWN {
		t.Fatalf("Listen after Shutdown: %v, want WSAENETDOWN", err)
	}
	_ = rt.Close(ctx, a.PID()) // released: no hook, no panic
}
