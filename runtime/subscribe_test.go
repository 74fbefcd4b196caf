package runtime_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	"github.com/sockactor/sockactor/winsock"
)

// funcLog is what a SubscribeFunc callback saw. It fails the test if two
// calls ever overlap.
type funcLog struct {
	t        *testing.T
	inflight atomic.Int32
	mu       sync.Mutex
	evs      []*events.Event
}

func (l *funcLog) record(ev *events.Event) {
	if l.inflight.Add(1) != 1 {
		l.t.Error("SubscribeFunc called f concurrently")
	}
	l.mu.Lock()
	l.evs = append(l.evs, ev)
	l.mu.Unlock()
	l.inflight.Add(-1)
}

// of returns the kinds f saw for socket id, in the order it saw them.
func (l *funcLog) of(id uint64) []events.Kind {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ks []events.Kind
	for _, ev := range l.evs {
		if ev.SocketId == id {
			ks = append(ks, ev.EventKind())
		}
	}
	return ks
}

func (l *funcLog) count(k events.Kind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ev := range l.evs {
		if ev.EventKind() == k {
			n++
		}
	}
	return n
}

// TestSubscribeFuncDeliversEachSocketsEventsInOrder: f gets every event a
// PID subscriber gets, each socket's in the same order (FD_ACCEPT first,
// FD_CLOSE last), one call at a time, with seqs rising per socket.
func TestSubscribeFuncDeliversEachSocketsEventsInOrder(t *testing.T) {
	s := startServer(t, serverOpts{})
	log := &funcLog{t: t}
	cancel, err := s.rt.SubscribeFunc(events.MaskAll, log.record)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	const n = 5
	var ids []uint64
	for i := 1; i <= n; i++ {
		c := s.dial(t)
		roundTrip(t, c, "x")
		ids = append(ids, s.rec.Accepted(t, i))
		_ = c.Close()
	}
	for _, id := range ids {
		s.rec.CloseEvent(t, id)
	}
	socktest.WaitFor(t, "f to see every FD_CLOSE", func() bool { return log.count(events.FDClose) == n })
	for _, id := range ids {
		got := log.of(id)
		var want []events.Kind
		for _, ev := range s.rec.Of(id) {
			want = append(want, ev.EventKind())
		}
		if len(got) < 2 || got[0] != events.FDAccept || got[len(got)-1] != events.FDClose || len(got) != len(want) {
			t.Fatalf("socket %d: f saw %v, the PID subscriber %v", id, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("socket %d: f saw %v, the PID subscriber %v", id, got, want)
			}
		}
	}
	log.mu.Lock()
	last := map[uint64]uint64{}
	for _, ev := range log.evs {
		if ev.Seq <= last[ev.SocketId] {
			t.Errorf("socket %d: seq %d after %d", ev.SocketId, ev.Seq, last[ev.SocketId])
		}
		last[ev.SocketId] = ev.Seq
	}
	log.mu.Unlock()
}

// TestSubscribeFuncCancelStopsDelivery: after cancel returns, f sees no
// event of a socket opened later; cancel again, and from inside f, is fine.
func TestSubscribeFuncCancelStopsDelivery(t *testing.T) {
	s := startServer(t, serverOpts{})
	log := &funcLog{t: t}
	cancel, err := s.rt.SubscribeFunc(events.MaskOf(events.FDAccept, events.FDClose), log.record)
	if err != nil {
		t.Fatal(err)
	}
	c1 := s.dial(t)
	roundTrip(t, c1, "x")
	first := s.rec.Accepted(t, 1)
	socktest.WaitFor(t, "f to see FD_ACCEPT", func() bool { return log.count(events.FDAccept) == 1 })
	cancel()
	cancel()

	// A subscription that cancels itself from f, on its first event.
	var selfCancel func()
	var selfCalls atomic.Int32
	ready := make(chan struct{})
	selfCancel, err = s.rt.SubscribeFunc(events.MaskOf(events.FDAccept, events.FDClose), func(*events.Event) {
		<-ready
		selfCalls.Add(1)
		selfCancel()
	})
	if err != nil {
		t.Fatal(err)
	}
	close(ready)

	c2 := s.dial(t)
	roundTrip(t, c2, "y")
	second := s.rec.Accepted(t, 2)
	_ = c2.Close()
	_ = c1.Close()
	s.rec.CloseEvent(t, second)
	s.rec.CloseEvent(t, first)
	if got := log.of(second); len(got) != 0 {
		t.Fatalf("f saw %v of a socket opened after cancel", got)
	}
	if got := log.of(first); len(got) != 1 {
		t.Fatalf("f saw %v of the first socket, want only FD_ACCEPT before cancel", got)
	}
	socktest.WaitFor(t, "the self-cancelling f to run", func() bool { return selfCalls.Load() >= 1 })
	selfCancel()
	if n := selfCalls.Load(); n != 1 {
		t.Fatalf("the self-cancelling f ran %d times, want 1", n)
	}
}

// TestSubscribeFuncAtShutdown: Shutdown returns only after f saw
// FD_CLOSE "shutdown" of each open socket, even when f is still busy with an
// earlier event as the socket closes; it leaves no goroutine behind;
// afterwards SubscribeFunc fails with WSANOTINITIALISED and an old cancel
// is harmless. Bad arguments fail with WSAEINVAL.
func TestSubscribeFuncAtShutdown(t *testing.T) {
	defer goleak.VerifyNone(t, append(socktest.LeakOptions(), goleak.IgnoreCurrent())...)
	s := startServer(t, serverOpts{})
	if _, err := s.rt.SubscribeFunc(events.MaskAll, nil); !errors.Is(err, winsock.ErrInvalid) {
		t.Fatalf("SubscribeFunc(nil f) = %v, want WSAEINVAL", err)
	}
	if _, err := s.rt.SubscribeFunc(0, func(*events.Event) {}); !errors.Is(err, winsock.ErrInvalid) {
		t.Fatalf("SubscribeFunc(mask 0) = %v, want WSAEINVAL", err)
	}
	log := &funcLog{t: t}
	entered, release := make(chan struct{}), make(chan struct{})
	cancel, err := s.rt.SubscribeFunc(events.MaskOf(events.FDAccept, events.FDClose), func(ev *events.Event) {
		if ev.EventKind() == events.FDAccept {
			close(entered)
			<-release // f is busy while the socket is closed
		}
		log.record(ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	c := s.dial(t)
	roundTrip(t, c, "x")
	id := s.rec.Accepted(t, 1)
	<-entered
	done := make(chan []string, 1)
	go func() {
		err := s.rt.Shutdown(ctx5(t))
		log.mu.Lock()
		var reasons []string
		for _, ev := range log.evs {
			if ev.SocketId == id && ev.EventKind() == events.FDClose {
				reasons = append(reasons, ev.Reason)
			}
		}
		log.mu.Unlock()
		if err != nil {
			t.Error(err)
		}
		done <- reasons
	}()
	s.rec.CloseEvent(t, id) // published to f's mailbox too, behind FD_ACCEPT
	close(release)
	if reasons := <-done; len(reasons) != 1 || reasons[0] != "shutdown" {
		t.Fatalf("f saw FD_CLOSE reasons %q by the time Shutdown returned, want [shutdown]", reasons)
	}
	cancel()
	if _, err := s.rt.SubscribeFunc(events.MaskAll, log.record); !errors.Is(err, winsock.ErrNotInitialised) {
		t.Fatalf("SubscribeFunc after Shutdown = %v, want WSANOTINITIALISED", err)
	}
	_ = c.Close()
}
