package runtime_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// Stopping: Shutdown waits for every goroutine and timer the sockets
// started (goleak in TestMain checks none is left), and CloseNow is the
// hard stop that waits on no peer.

// afterForever asks for an After message far in the future on FD_ACCEPT.
var afterForever = actors.HandlerFunc(func(c *actors.Context) {
	if ev, ok := c.Message().(*events.Event); ok && ev.EventKind() == events.FDAccept {
		c.After(time.Hour, "never")
	}
})

func TestShutdownEndsDialsAndTimers(t *testing.T) {
	hang := fullBacklogListener(t) // connects to it hang until their timeout
	s := startRT(t, sockrt.Options{Linger: time.Hour}, actors.ListenOptions{}, afterForever)
	c := dial(t, s.addr)
	s.rec.AcceptedFor(t, c) // its handler has a pending After timer
	_ = c.CloseWrite()      // and, once FD_CLOSE is in, a linger of an hour
	s.rec.CloseEvent(t, s.rec.AcceptedFor(t, c).SocketId)

	rec := newRecorder(t, s.rt.System())
	pid, err := s.rt.Dial(ctx5(t), "tcp://"+hang, nop, actors.DialOptions{Timeout: time.Minute, Subscribers: events.Subs{{PID: rec.PID, Mask: events.MaskAll}}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the dial start; not a correctness wait
	start := time.Now()
	if err := s.rt.Shutdown(ctx5(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Shutdown took %v: it waited on the dial's minute or the hour-long timers", d)
	}
	ev := rec.Wait(t, actors.SocketIDOf(pid), events.FDConnect)
	if ev.Code != uint32(winsock.WSAENETDOWN) {
		t.Fatalf("the dial cut short by Shutdown ended with FD_CONNECT %d, want WSAENETDOWN", ev.Code)
	}
}

func TestCloseNowResetsAndWaitsOnNoPeer(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		wrote := make(chan struct{})
		s := startRT(t, sockrt.Options{Linger: time.Minute}, actors.ListenOptions{Dispatch: mode}, bigAnswer{16 << 20, wrote})
		open := dial(t, s.addr)
		openID := s.rec.AcceptedFor(t, open).SocketId
		half := dial(t, s.addr)
		halfID := s.rec.AcceptedFor(t, half).SocketId
		if _, err := half.Write([]byte("go")); err != nil {
			t.Fatal(err)
		}
		_ = half.CloseWrite() // half-open, 16 MiB queued for a peer that never reads
		s.rec.CloseEvent(t, halfID)
		<-wrote
		if _, err := s.rt.Info(ctx5(t), s.rt.SocketPID(halfID)); err != nil {
			t.Fatal(err) // a round trip: a pooled Write has reached the loop
		}
		start := time.Now()
		if err := s.rt.CloseNow(); err != nil {
			t.Fatalf("CloseNow: %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("CloseNow took %v: it waited on a peer", d)
		}
		if ev := s.rec.CloseEvent(t, openID); ev.Reason != "shutdown" || ev.Code != uint32(winsock.WSAENETDOWN) {
			t.Fatalf("open socket's FD_CLOSE = %v, want 10050 shutdown", ev)
		}
		if err := readUntilErr(open); !isReset(err) {
			t.Fatalf("open client after CloseNow: %v, want ECONNRESET", err)
		}
		if err := drainUntilErr(half); !isReset(err) {
			t.Fatalf("half-open client after CloseNow: %v, want ECONNRESET", err)
		}
		if st := s.rt.Stats(); st.Conns.SendDropped == 0 {
			t.Fatalf("SendDropped = 0: the dropped answer must be counted")
		}
		if err := s.rt.CloseNow(); err != nil { // idempotent
			t.Fatal(err)
		}
		if err := s.rt.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// drainUntilErr reads (discarding) until an error.
func drainUntilErr(c interface{ Read([]byte) (int, error) }) error {
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.Read(buf); err != nil {
			return err
		}
	}
	return nil
}

// TestShutdownRightAfterADialConnects: gnet runs OnOpen (FD_CONNECT 0) before
// it tells the dialler; a Shutdown in between must not add a failed
// FD_CONNECT after the socket's FD_CLOSE.
func TestShutdownRightAfterADialConnects(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	defer sys.Shutdown()
	var mu sync.Mutex
	var kinds []events.Kind
	connected := make(chan struct{}, 1)
	rec := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *events.Event:
			mu.Lock()
			kinds = append(kinds, m.EventKind())
			mu.Unlock()
			if m.EventKind() == events.FDConnect {
				connected <- struct{}{}
			}
		case string: // a barrier: everything sent before it has been recorded
			c.Respond(m)
		}
	}))
	defer sys.Root.Stop(rec)
	for i := 0; i < 60; i++ {
		mu.Lock()
		kinds = nil
		mu.Unlock()
		rt, err := sockrt.New(sockrt.Options{EventLoops: 1, ActorSystem: sys})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := rt.Listen("tcp://127.0.0.1:0", nop, actors.ListenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Start(ctx5(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := rt.Dial(ctx5(t), "tcp://"+ln.Addr().String(), nop, actors.DialOptions{Subscribers: events.Subs{{PID: rec, Mask: events.MaskAll}}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-connected:
		case <-time.After(10 * time.Second):
			t.Fatal("no FD_CONNECT")
		}
		if err := rt.Shutdown(ctx5(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := sys.Root.RequestFuture(rec, "sync", 5*time.Second).Result(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := fmt.Sprint(kinds)
		mu.Unlock()
		if want := fmt.Sprint([]events.Kind{events.FDConnect, events.FDWrite, events.FDClose}); got != want {
			t.Fatalf("round %d: the dial's events %s, want %s (one FD_CONNECT, FD_CLOSE last)", i, got, want)
		}
	}
}

// TestShutdownWaitsForPooledHandlers: a pooled handler still running when
// the runtime stops (here: handling its FD_CLOSE 10050) finishes before
// Shutdown returns.
func TestShutdownWaitsForPooledHandlers(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	h := actors.HandlerFunc(func(c *actors.Context) {
		if ev, ok := c.Message().(*events.Event); ok && ev.EventKind() == events.FDClose {
			close(entered)
			<-release
			finished.Store(true)
		}
	})
	s := startRT(t, sockrt.Options{}, actors.ListenOptions{Dispatch: actors.Pooled}, h)
	c := dial(t, s.addr)
	s.rec.AcceptedFor(t, c)
	done := make(chan error, 1)
	go func() { done <- s.rt.Shutdown(context.Background()) }()
	<-entered
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while a pooled handler was still running", err)
	case <-time.After(200 * time.Millisecond): // still waiting, as it must
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Fatal("Shutdown returned before the pooled handler finished")
	}
}
