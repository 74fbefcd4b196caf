package actors_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// ---- Caller: error mapping ----

// callerOps calls every Caller method; each returns the method's error.
var callerOps = []struct {
	op   string
	call func(c actors.Caller, ctx context.Context, pid *actor.PID) error
}{
	{"Send", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		_, err := c.Send(ctx, pid, []byte("x"))
		return err
	}},
	{"Recv", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		_, err := c.Recv(ctx, pid, 10)
		return err
	}},
	{"RecvDisconnect", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		_, err := c.RecvDisconnect(ctx, pid)
		return err
	}},
	{"SendDisconnect", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		return c.SendDisconnect(ctx, pid)
	}},
	{"Info", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		_, err := c.Info(ctx, pid)
		return err
	}},
	{"Subscribe", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		return c.Subscribe(ctx, pid, actor.NewPID("nonhost", "nobody"), events.MaskAll)
	}},
	{"Unsubscribe", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		return c.Unsubscribe(ctx, pid, actor.NewPID("nonhost", "nobody"))
	}},
	{"Close", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		return c.Close(ctx, pid)
	}},
	{"Abort", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		return c.Abort(ctx, pid)
	}},
	{"SuspendReading", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		return c.SuspendReading(ctx, pid)
	}},
	{"ResumeReading", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		return c.ResumeReading(ctx, pid)
	}},
}

// wantOpError checks that err is a *winsock.OpError for op and socket with
// the code want.
func wantOpError(tb testing.TB, err error, op string, socket uint64, want winsock.Code) {
	tb.Helper()
	var oe *winsock.OpError
	if !errors.As(err, &oe) {
		tb.Fatalf("%s: error %v (%T), want *winsock.OpError", op, err, err)
	}
	if oe.Op != op || oe.Socket != socket || oe.Code != want {
		tb.Fatalf("%s: got OpError{Op: %q, Socket: %d, Code: %v}, want {%q, %d, %v}",
			op, oe.Op, oe.Socket, oe.Code, op, socket, want)
	}
	if !errors.Is(err, want) {
		tb.Fatalf("%s: errors.Is(%v, %v) = false", op, err, want)
	}
	if errno := want.Errno(); errno != 0 && !errors.Is(err, errno) {
		tb.Fatalf("%s: errors.Is(%v, %v) = false", op, err, errno)
	}
}

func TestCallerErrorMapping(t *testing.T) {
	s := startRuntime(t, sockrt.Options{Linger: time.Minute}, listenSpec{h: echo})
	sys := s.rt.System()
	client, pid := s.dial(t, 0)
	id := actors.SocketIDOf(pid)
	caller := actors.Caller{System: sys}

	// The live socket works through the Caller: the baseline.
	if n, err := caller.Send(ctx5(t), pid, []byte("ping")); err != nil || n != 4 {
		t.Fatalf("Send = %d, %v", n, err)
	}
	buf := make([]byte, 4)
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("client read %q, %v", buf, err)
	}

	t.Run("nil system", func(t *testing.T) {
		for _, o := range callerOps {
			err := o.call(actors.Caller{}, ctx5(t), pid)
			wantOpError(t, err, o.op, id, winsock.WSANOTINITIALISED)
			if !errors.Is(err, winsock.ErrNotInitialised) {
				t.Fatalf("%s: %v is not ErrNotInitialised", o.op, err)
			}
		}
	})

	t.Run("nil PID", func(t *testing.T) {
		for _, o := range callerOps {
			wantOpError(t, o.call(caller, ctx5(t), nil), o.op, 0, winsock.WSAENOTSOCK)
		}
	})

	t.Run("unknown PID", func(t *testing.T) {
		unknown := []*actor.PID{
			s.rt.SocketPID(1 << 40),
			actor.NewPID(sys.Address(), "no-such-actor"),
			actor.NewPID("10.255.255.1:1", "sock/3"), // remote, no remote configured
		}
		for _, u := range unknown {
			for _, o := range callerOps {
				err := o.call(caller, ctx5(t), u)
				wantOpError(t, err, o.op, actors.SocketIDOf(u), winsock.WSAENOTSOCK)
				if !errors.Is(err, winsock.ErrNotSock) || !errors.Is(err, syscall.ENOTSOCK) {
					t.Fatalf("%s to %v: %v", o.op, u, err)
				}
			}
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, o := range callerOps {
			if err := o.call(caller, ctx, pid); !errors.Is(err, context.Canceled) {
				t.Fatalf("%s with a cancelled context: %v, want context.Canceled", o.op, err)
			}
		}
	})

	t.Run("expired deadline", func(t *testing.T) {
		for _, o := range callerOps {
			ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
			err := o.call(caller, ctx, pid)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, winsock.ErrTimedOut) {
				t.Fatalf("%s with a 1ns deadline: %v, want DeadlineExceeded or WSAETIMEDOUT", o.op, err)
			}
		}
	})

	// The socket survived all of the above (none of it reached it, or it
	// was Close/Abort that never left the caller).
	if got := roundTrip(t, client, "still here"); got != "still here" {
		t.Fatalf("echo after the error cases: %q", got)
	}

	t.Run("no reply in time", func(t *testing.T) {
		silent := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
		defer func() { _ = sys.Root.StopFuture(silent).Wait() }()
		short := actors.Caller{System: sys, Timeout: 20 * time.Millisecond}
		err := short.SendDisconnect(ctx5(t), silent)
		wantOpError(t, err, "SendDisconnect", 0, winsock.WSAETIMEDOUT)
	})

	t.Run("reply mapping", func(t *testing.T) {
		// A PID that answers with an Error, or with a wrong type.
		replies := map[string]any{
			"error":  &actors.Error{Code: uint32(winsock.WSAENOBUFS), Detail: "full"},
			"string": "hello",
		}
		answer := ""
		responder := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			if _, ok := c.Message().(*actors.Info); ok {
				c.Respond(replies[answer])
			}
		}))
		defer func() { _ = sys.Root.StopFuture(responder).Wait() }()

		answer = "error"
		_, err := caller.Info(ctx5(t), responder)
		wantOpError(t, err, "Info", 0, winsock.WSAENOBUFS)

		answer = "string"
		_, err = caller.Info(ctx5(t), responder)
		wantOpError(t, err, "Info", 0, winsock.WSAEINVAL)
		if !strings.Contains(err.Error(), "unexpected reply string") {
			t.Fatalf("wrong-type reply: %v", err)
		}
	})

	t.Run("listener", func(t *testing.T) {
		lpid := s.lns[0].PID()
		lid := s.lns[0].ID()
		_, err := caller.Send(ctx5(t), lpid, []byte("x"))
		wantOpError(t, err, "Send", lid, winsock.WSAENOTCONN)
		_, err = caller.RecvDisconnect(ctx5(t), lpid)
		wantOpError(t, err, "RecvDisconnect", lid, winsock.WSAENOTCONN)
		wantOpError(t, caller.SuspendReading(ctx5(t), lpid), "SuspendReading", lid, winsock.WSAENOTCONN)
		wantOpError(t, caller.ResumeReading(ctx5(t), lpid), "ResumeReading", lid, winsock.WSAENOTCONN)
		info, err := caller.Info(ctx5(t), lpid)
		if err != nil || info.Kind != "listener" || info.State != "listening" || info.Socket != lid {
			t.Fatalf("listener Info = %v, %v", info, err)
		}
	})

	t.Run("listener Connect", func(t *testing.T) {
		// Every other socket answers Connect with a ConnectResult.
		res := request(t, sys, s.lns[0].PID(), &actors.Connect{Address: "tcp://" + s.addr(0)})
		if e, ok := res.(*actors.Error); ok {
			t.Fatalf("a listener answers Connect with *actors.Error %v (%q), not a ConnectResult", winsock.Code(e.Code), e.Detail)
		}
		if r, ok := res.(*actors.ConnectResult); !ok || r.Code != uint32(winsock.WSAEINVAL) {
			t.Fatalf("Connect to a listener: %#v, want ConnectResult{WSAEINVAL}", res)
		}
	})

	t.Run("peer-closed socket", func(t *testing.T) {
		c2, pid2 := s.dial(t, 0)
		id2 := actors.SocketIDOf(pid2)
		c2.CloseWrite() // a half-close: the peer still reads
		ev := s.rec.CloseEvent(t, id2)
		if ev.Reason != "peer-close" {
			t.Fatalf("FD_CLOSE reason %q", ev.Reason)
		}
		// Lingering (a minute): it still answers, with the right codes.
		// After the peer's FIN the send side is still ours (docs/SEMANTICS.md
		// §5): Send and SendDisconnect succeed, a second Send is refused.
		if n, err := caller.Send(ctx5(t), pid2, []byte("x")); err != nil || n != 1 {
			t.Fatalf("Send on a half-open socket = %d, %v", n, err)
		}
		if err := caller.SendDisconnect(ctx5(t), pid2); err != nil {
			t.Fatalf("SendDisconnect on a half-open socket: %v", err)
		}
		_, err := caller.Send(ctx5(t), pid2, []byte("x"))
		wantOpError(t, err, "Send", id2, winsock.WSAESHUTDOWN)
		// Its circuit has closed: no reads are left to pause.
		wantOpError(t, caller.SuspendReading(ctx5(t), pid2), "SuspendReading", id2, winsock.WSAENOTCONN)
		wantOpError(t, caller.ResumeReading(ctx5(t), pid2), "ResumeReading", id2, winsock.WSAENOTCONN)
		// docs/SEMANTICS.md §3.9: RecvDisconnect after FD_CLOSE still succeeds.
		if data, err := caller.RecvDisconnect(ctx5(t), pid2); err != nil || len(data) != 0 {
			t.Fatalf("RecvDisconnect after FD_CLOSE = %q, %v", data, err)
		}
		info, err := caller.Info(ctx5(t), pid2)
		if err != nil || info.State != "closed" || info.CloseReason != "peer-close" || info.Socket != id2 {
			t.Fatalf("Info after FD_CLOSE = %v, %v", info, err)
		}
	})

	t.Run("closed socket", func(t *testing.T) {
		_, pid3 := s.dial(t, 0)
		id3 := actors.SocketIDOf(pid3)
		if err := caller.Close(ctx5(t), pid3); err != nil {
			t.Fatalf("Close: %v", err)
		}
		// Released at once: every request is WSAENOTSOCK, with the op and
		// the socket id in the error.
		for _, o := range callerOps {
			wantOpError(t, o.call(caller, ctx5(t), pid3), o.op, id3, winsock.WSAENOTSOCK)
		}
	})

	if got := roundTrip(t, client, "bye"); got != "bye" {
		t.Fatalf("echo at the end: %q", got)
	}
}

// TestCallerStartsNoGoroutine: a request whose context is cancelled returns
// at once and leaves nothing behind (no waiter lives on until the request's
// timeout), and its reply process is gone from the registry.
func TestCallerStartsNoGoroutine(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	mute, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), "mute")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sys.Root.StopFuture(mute).Wait() }()
	before := registrySize(sys)
	c := actors.Caller{System: sys, Timeout: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Info(ctx, mute); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Info to an actor that never answers: %v, want context.DeadlineExceeded", err)
	}
	if n := registrySize(sys); n != before {
		t.Fatalf("registry holds %d processes after the call, %d before", n, before)
	}
	goleak.VerifyNone(t, append(socktest.LeakOptions(), goleak.IgnoreCurrent())...)
}

// registrySize counts the processes in sys's registry.
func registrySize(sys *actor.ActorSystem) int {
	n := 0
	for _, b := range sys.ProcessRegistry.LocalPIDs.LocalPIDs {
		n += b.Count()
	}
	return n
}
