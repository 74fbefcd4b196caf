package runtime_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, socktest.LeakOptions()...)
}

// modes is the dispatch matrix every socket test runs under, each mode a
// subtest (socktest.EachMode).
var modes = []actors.Dispatch{actors.Inline, actors.Pooled}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fdCount returns the number of open descriptors of this process.
func fdCount(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// server is a running runtime with one listener, shut down at cleanup, with
// a check that every descriptor it opened is closed again.
type server struct {
	rt   *sockrt.Runtime
	ln   *sockrt.Listener
	addr string
	rec  *recorder
}

type serverOpts struct {
	dispatch actors.Dispatch
	policy   actors.BanPolicy
	linger   time.Duration
	handler  actors.Handler
}

func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	fds := fdCount(t)
	if o.handler == nil {
		o.handler = echo
	}
	if o.linger == 0 {
		o.linger = 100 * time.Millisecond
	}
	rt, err := sockrt.New(sockrt.Options{EventLoops: 2, Linger: o.linger, BanPolicy: o.policy})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := rt.Listen("tcp://127.0.0.1:0", o.handler, actors.ListenOptions{Dispatch: o.dispatch})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	s := &server{rt: rt, ln: ln, addr: ln.Addr().String()}
	s.rec = newRecorder(t, rt.System())
	if err := rt.Subscribe(s.rec.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		socktest.WaitFor(t, "descriptors to be released", func() bool { return fdCount(t) <= fds })
	})
	return s
}

// echo writes back what it receives.
var echo = actors.HandlerFunc(func(c *actors.Context) {
	if m, ok := c.Message().(*actors.Received); ok {
		_, _ = c.Write(m.Data)
	}
})

// recorder records events (see socktest.Recorder).
type recorder = socktest.Recorder

func newRecorder(t *testing.T, sys *actor.ActorSystem) *recorder { return socktest.NewRecorder(sys) }

// actorFunc makes props for an actor that handles events with f.
func actorFunc(f func(*events.Event)) *actor.Props {
	return actor.PropsFromFunc(func(c actor.Context) {
		if ev, ok := c.Message().(*events.Event); ok {
			f(ev)
		}
	})
}

// The client-side helpers (internal/socktest/conn.go).
var (
	dial         = socktest.Dial
	roundTrip    = socktest.RoundTrip
	readUntilErr = socktest.ReadUntilErr
	isReset      = socktest.IsReset
)
