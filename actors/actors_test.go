package actors_test

import (
	"context"
	"io"
	"log/slog"
	"net"
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

// ---- helpers ----

// modes is the dispatch matrix the handler tests run under, each mode a
// subtest (socktest.EachMode).
var modes = []actors.Dispatch{actors.Inline, actors.Pooled}

func ctx5(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// quiet is a logger for runtimes whose handlers panic on purpose.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// listenSpec is one listener of a test runtime.
type listenSpec struct {
	h    actors.Handler
	opts actors.ListenOptions
}

// testRT is a running runtime, shut down at cleanup, with a recorder
// subscribed to every event.
type testRT struct {
	rt  *sockrt.Runtime
	lns []*sockrt.Listener
	rec *recorder
}

func startRuntime(tb testing.TB, opts sockrt.Options, specs ...listenSpec) *testRT {
	tb.Helper()
	if opts.EventLoops == 0 {
		opts.EventLoops = 2
	}
	if opts.Linger == 0 {
		opts.Linger = 100 * time.Millisecond
	}
	rt, err := sockrt.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	s := &testRT{rt: rt}
	for _, sp := range specs {
		ln, err := rt.Listen("tcp://127.0.0.1:0", sp.h, sp.opts)
		if err != nil {
			tb.Fatal(err)
		}
		s.lns = append(s.lns, ln)
	}
	if err := rt.Start(ctx5(tb)); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
	s.rec = newRecorder(rt.System())
	if err := rt.Subscribe(s.rec.PID, events.MaskAll); err != nil {
		tb.Fatal(err)
	}
	return s
}

// addr returns the address of listener i.
func (s *testRT) addr(i int) string { return s.lns[i].Addr().String() }

// dial connects a client to listener i and returns it with the PID of the
// socket actor the server made for it.
func (s *testRT) dial(tb testing.TB, i int) (*net.TCPConn, *actor.PID) {
	tb.Helper()
	c, err := net.DialTimeout("tcp", s.addr(i), 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	ev := s.rec.AcceptedFor(tb, c)
	return c.(*net.TCPConn), s.rt.SocketPID(ev.SocketId)
}

// recorder records events (see socktest.Recorder).
type recorder = socktest.Recorder

func newRecorder(sys *actor.ActorSystem) *recorder { return socktest.NewRecorder(sys) }

// echo writes back what it receives.
var echo = actors.HandlerFunc(func(c *actors.Context) {
	if m, ok := c.Message().(*actors.Received); ok {
		_, _ = c.Write(m.Data)
	}
})

// request sends msg to pid as a raw protoactor request and returns the
// reply (the future's error fails the test).
func request(tb testing.TB, sys *actor.ActorSystem, pid *actor.PID, msg any) any {
	tb.Helper()
	res, err := sys.Root.RequestFuture(pid, msg, 5*time.Second).Result()
	if err != nil {
		tb.Fatalf("request %T to %v: %v", msg, pid, err)
	}
	return res
}

// The client-side helpers (internal/socktest/conn.go).
var (
	roundTrip = socktest.RoundTrip
)
