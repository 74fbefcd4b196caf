// Package socktest holds what the tests of sockactor's packages share, the
// way net/http/httptest serves net/http's: the goroutine-leak options that
// account for gnet's process-wide worker pool, polling with a deadline, and
// a subscriber actor that records events, and the client side of a socket
// test (Dial, RoundTrip, ReadUntilErr).
//
// It is for tests only. It imports events and protoactor, not actors or
// runtime, so that every package's tests (netio's included) can use it
// without an import cycle.
package socktest

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/events"
)

// Timeout bounds every wait in this package.
const Timeout = 10 * time.Second

// LeakOptions are the goleak options every socket test needs: gnet's
// package-level worker pool (ants) keeps its purge and clock goroutines for
// the life of the process, and an idle worker that enrolled a dialled
// connection waits there until ants' expiry purges it. Nothing else is
// ignored.
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*goWorker).run.func1"),
	}
}

// WaitFor polls cond until it holds, failing tb after Timeout.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Recorder is a subscriber actor that keeps every event it gets. Its
// methods are safe for concurrent use.
type Recorder struct {
	// PID is the actor to subscribe.
	PID *actor.PID

	mu  sync.Mutex
	evs []*events.Event
}

// NewRecorder spawns a Recorder in sys.
func NewRecorder(sys *actor.ActorSystem) *Recorder {
	r := &Recorder{}
	r.PID = sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if ev, ok := c.Message().(*events.Event); ok {
			r.mu.Lock()
			r.evs = append(r.evs, ev)
			r.mu.Unlock()
		}
	}))
	return r
}

// Of returns the events seen for socket id, in order.
func (r *Recorder) Of(id uint64) []*events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*events.Event
	for _, ev := range r.evs {
		if ev.SocketId == id {
			out = append(out, ev)
		}
	}
	return out
}

// Count returns how many events of kind k socket id had.
func (r *Recorder) Count(id uint64, k events.Kind) int {
	n := 0
	for _, ev := range r.Of(id) {
		if ev.EventKind() == k {
			n++
		}
	}
	return n
}

// Total returns how many events of kind k were seen, for every socket.
func (r *Recorder) Total(k events.Kind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.evs {
		if ev.EventKind() == k {
			n++
		}
	}
	return n
}

// Find returns the first event that matches, or nil.
func (r *Recorder) Find(match func(*events.Event) bool) *events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.evs {
		if match(ev) {
			return ev
		}
	}
	return nil
}

// Accepted waits for the n-th FD_ACCEPT (1-based) and returns its socket id.
func (r *Recorder) Accepted(tb testing.TB, n int) uint64 {
	tb.Helper()
	var id uint64
	WaitFor(tb, "FD_ACCEPT", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		seen := 0
		for _, ev := range r.evs {
			if ev.EventKind() == events.FDAccept {
				if seen++; seen == n {
					id = ev.SocketId
					return true
				}
			}
		}
		return false
	})
	return id
}

// AcceptedFor waits for the FD_ACCEPT of the server side of client c.
func (r *Recorder) AcceptedFor(tb testing.TB, c net.Conn) *events.Event {
	tb.Helper()
	local := c.LocalAddr().String()
	var got *events.Event
	WaitFor(tb, "FD_ACCEPT of "+local, func() bool {
		got = r.Find(func(ev *events.Event) bool {
			return ev.EventKind() == events.FDAccept && ev.RemoteAddr == local
		})
		return got != nil
	})
	return got
}

// Wait waits for socket id's first event of kind k and returns it.
func (r *Recorder) Wait(tb testing.TB, id uint64, k events.Kind) *events.Event {
	tb.Helper()
	var got *events.Event
	WaitFor(tb, k.String(), func() bool {
		got = r.Find(func(ev *events.Event) bool { return ev.SocketId == id && ev.EventKind() == k })
		return got != nil
	})
	return got
}

// CloseEvent waits for socket id's FD_CLOSE and returns it.
func (r *Recorder) CloseEvent(tb testing.TB, id uint64) *events.Event {
	tb.Helper()
	return r.Wait(tb, id, events.FDClose)
}
