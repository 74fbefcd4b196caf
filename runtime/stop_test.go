package runtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
	sockrt "github.com/sockactor/sockactor/runtime"
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
	if ev.Code != uint32(netio.WSAENETDOWN) {
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
		if ev := s.rec.CloseEvent(t, openID); ev.Reason != "shutdown" || ev.Code != uint32(netio.WSAENETDOWN) {
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
